"""Searchers by name, built from a search config (``configs/search.py``)."""

from __future__ import annotations

import ml_collections

from nasjax.agents.base import Searcher


def make_searcher(name: str, config: ml_collections.ConfigDict) -> Searcher:
    """The searcher called ``name``, with its hyperparameters from ``config``."""
    from nasjax.agents import random_search

    factories = {
        "random_search": lambda: random_search.make_random_search(),
    }
    if name not in factories:
        raise ValueError(f"unknown algorithm {name!r}; choose from {', '.join(sorted(factories))}")
    return factories[name]()
