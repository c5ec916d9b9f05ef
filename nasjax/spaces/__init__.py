"""Search spaces: each a :class:`~nasjax.spaces.base.SearchSpace` registered by name.

  >>> import nasjax
  >>> space = nasjax.spaces.get("nb101")

``get(name, neighbourhood=...)`` picks one of the space's registered neighbour strategies
(NAS-Bench-101: ``on_the_fly`` or the precomputed ``table``), chosen once. A registration's
``env`` gives the space's defaults of the environment block (:data:`nasjax.env.FIELDS`): N,
the reward shaping alpha (Cassimon et al. §3.2.2) and the neighbour strategy.
"""

from __future__ import annotations

import functools

from nasjax import registry
from nasjax.spaces.base import Neighbourhood, SearchSpace

__all__ = ["Neighbourhood", "SearchSpace", "get", "names"]

registry.register(
    "space", "nb101", "nasjax.spaces.nb101_space:make_space",
    neighbourhoods={"on_the_fly": None, "table": "nasjax.spaces.neighbour_table:load"},
    enumerate="nasjax.spaces.nb101:enumerate_cells",
    prepare={"nb101-space": "nasjax.spaces.nb101:prepare",
             "nb101-neighbours": "nasjax.spaces.neighbour_table:prepare"},
    env={"max_neighbours": 50, "alpha": 6.0, "neighbourhood": "table"})  # §3.2.2, §4.1.1
registry.register("space", "nb301", "nasjax.spaces.nb301:make_space",
                  neighbourhoods={"on_the_fly": None},  # §4.2.1:
                  env={"max_neighbours": 50, "alpha": 32.0, "neighbourhood": "on_the_fly"})


@functools.cache
def _on_the_fly(name: str) -> SearchSpace:
    return registry.make("space", name)


def get(name: str, neighbourhood: str = "on_the_fly", data_dir=None,
        progress: bool = True) -> SearchSpace:
    """The registered search space ``name`` with the named neighbour strategy.

    Raises:
      ValueError for an unknown space or strategy (listing the known ones).
    """
    space = _on_the_fly(name)
    if neighbourhood == "on_the_fly":
        return space
    strategies = registry.entry("space", name).info.get("neighbourhoods", {})
    if not strategies.get(neighbourhood):
        raise ValueError(f"space {name!r} has no neighbourhood {neighbourhood!r}; choose one of "
                         f"{', '.join(strategies) or 'on_the_fly'}")
    loader = registry.resolve(strategies[neighbourhood])
    return space.with_neighbourhood(loader(data_dir=data_dir, progress=progress))


def names() -> tuple[str, ...]:
    """Registered space names."""
    return registry.names("space")
