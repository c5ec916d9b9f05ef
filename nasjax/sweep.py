"""Config sweeps: the points of a product of field values, their labels and groups.

A sweep is a list of :class:`Axis` (a config field and the values it takes); its points are the
product of the axes, in command-line order (the last axis varies fastest). A point is labelled
by the fields that differ between points, ``field=value`` joined by ``", "`` in sorted field
order, as ``launch.compare_apex`` labels runs (``gamma=0.95``). Points whose configs agree on
every field but those that keep array shapes (e.g. ``seed``) can run together through one
compiled program (purejaxrl's ``jit(vmap(train))`` on accelerators): :func:`groups` finds them.

Named sweeps live beside the presets in ``configs/<family>.py`` as ``SWEEPS``: a dict from a
name to ``{field: values}``.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import ml_collections

SPEC = "sweep.json"  # a sweep directory's record of its base config and points


@dataclasses.dataclass(frozen=True)
class Axis:
    """One swept field.

    Attributes:
      field: the dotted config field ("gamma", "env.alpha").
      values: the values it takes, in order, distinct.
    """

    field: str
    values: tuple


def axes_of(named: Mapping[str, Sequence]) -> list[Axis]:
    """The axes of a named sweep's ``{field: values}``."""
    return [Axis(field, tuple(values)) for field, values in named.items()]


def points(axes: Sequence[Axis]) -> list[dict[str, Any]]:
    """The product of the axes: one ``{field: value}`` per point, the last axis fastest.

    Raises:
      ValueError: one line when a field is swept twice or repeats a value.
    """
    fields = [axis.field for axis in axes]
    twice = sorted({field for field in fields if fields.count(field) > 1})
    if twice:
        raise ValueError(f"the sweep names {twice[0]!r} twice; give all its values in one "
                         "--sweep")
    for axis in axes:
        if not axis.values:
            raise ValueError(f"the sweep of {axis.field!r} has no value")
        if len({repr(value) for value in axis.values}) < len(axis.values):
            raise ValueError(f"the sweep of {axis.field!r} repeats a value "
                             f"({', '.join(map(str, axis.values))})")
    return [dict(zip(fields, values)) for values in
            itertools.product(*(axis.values for axis in axes))]


def label(point: Mapping[str, Any]) -> str:
    """``field=value, ...`` in sorted field order (``launch.compare_apex``'s run labels)."""
    return ", ".join(f"{field}={point[field]}" for field in sorted(point))


def directory_name(point: Mapping[str, Any]) -> str:
    """The point's run directory name inside the sweep directory: its label without spaces
    (``env.alpha=2.0,gamma=0.95``)."""
    return ",".join(f"{field}={point[field]}" for field in sorted(point)).replace("/", "_")


def apply(config: ml_collections.ConfigDict,
          point: Mapping[str, Any]) -> ml_collections.ConfigDict:
    """A copy of ``config`` with the point's fields set, as ``--config.FIELD=VALUE`` sets them
    (``None`` is allowed where a rule allows it, e.g. ``env.alpha``: no reward shaping)."""
    copy = ml_collections.ConfigDict(config.to_dict())
    for field, value in point.items():
        *parents, leaf = field.split(".")
        block = copy
        for parent in parents:
            block = block[parent]
        block[leaf] = value
    return copy


def groups(configs: Sequence[Mapping], together: Iterable[str]) -> list[list[int]]:
    """Indices of the points that can run together: their configs (``to_dict()`` form) agree
    on every field but ``together`` (fields that keep every array shape), and each
    ``together`` field is None in all of them or in none (None selects another program, e.g.
    ``env.alpha = None``: no reward shaping). In first-point order; a point alone is a group
    of one."""
    together = set(together)
    found: dict[str, list[int]] = {}
    for index, config in enumerate(configs):
        rest = {field: value if field not in together else value is None
                for field, value in flat(config).items()}
        found.setdefault(repr(sorted(rest.items())), []).append(index)
    return list(found.values())


def flat(config: Mapping, prefix: str = "") -> dict[str, Any]:
    """Leaf fields of a nested mapping by dotted path."""
    out = {}
    for key, value in config.items():
        if isinstance(value, Mapping):
            out.update(flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def point_dirs(directory: str | Path) -> list[Path] | None:
    """The run directories of a sweep directory's points, in sweep order (None when
    ``directory`` holds no sweep), so that a sweep can be named wherever runs are, e.g. the
    5 seeds of ``--sweep=seeds`` as ``apex_checkpoints``."""
    spec = Path(directory) / SPEC
    if not spec.is_file():
        return None
    return [Path(directory) / point["workdir"] for point in json.loads(spec.read_text())["points"]]
