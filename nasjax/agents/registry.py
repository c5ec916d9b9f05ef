"""Searchers by name, built from a search config (``configs/search.py``)."""

from __future__ import annotations

import ml_collections

from nasjax.agents.base import Searcher

OWN = ("random_search", "regularized_evolution")  # built here; ReMAADE names are delegated


def make_searcher(name: str, config: ml_collections.ConfigDict) -> Searcher:
    """The searcher called ``name``, with its hyperparameters from ``config``.

    ``random_search`` and ``regularized_evolution`` (fields ``config.regularized_evolution``)
    are built here; the names of ``nasjax.agents.remaade.VARIANTS`` and ``remaade_s<k>``
    go to ``remaade.make_searcher(name, config.remaade)``.

    Raises:
      ValueError: for an unknown name, listing the known ones.
    """
    # Imported here so that loading the registry does not import every algorithm.
    from nasjax.agents import random_search, regularized_evolution, remaade

    if name == "random_search":
        return random_search.make_random_search()
    if name == "regularized_evolution":
        re_config = config.regularized_evolution
        return regularized_evolution.make_regularized_evolution(
            population_size=re_config.population_size,
            tournament_size=re_config.tournament_size,
            mutation_rate=re_config.mutation_rate, initial=re_config.initial,
            require_change=re_config.require_change)
    if name in remaade.VARIANTS or name.startswith("remaade_s"):
        return remaade.make_searcher(name, config.remaade)
    raise ValueError(f"unknown algorithm {name!r}; choose from "
                     f"{', '.join(OWN + tuple(remaade.VARIANTS))} (or remaade_s<k>)")
