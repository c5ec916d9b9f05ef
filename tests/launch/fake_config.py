"""A tiny config family for tests/launch/test_common.py (the shape of configs/*.py)."""

from __future__ import annotations

import ml_collections

from nasjax import config_rules as rules

PRESETS = ("default", "big")
ALGORITHMS = ("random_search", "local_search")

RULES = {
    "num_trials": rules.positive_int(),
    "budget": rules.positive_int(),
    "budgets": rules.sequence_of(rules.positive_int()),
    "mode": rules.one_of("mean", "noisy"),
    "algorithms": rules.names(lambda: ALGORITHMS, "algorithm"),
    "data_dir": rules.text("a directory, or '' for $NASJAX_DATA"),
    "wait": rules.boolean(),
    "inner.rate": rules.number(0.0, 1.0, low_open=True),
}


def get_config(preset: str = "default") -> ml_collections.ConfigDict:
    """The fake config; ``preset='big'`` has more trials."""
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose one of: {', '.join(PRESETS)}")
    config = ml_collections.ConfigDict()
    config.num_trials = 3  # independent trials
    config.budget = 10  # queries per trial
    config.budgets = (5, 10)  # table rows
    config.mode = "mean"  # what searchers see
    # Comma-separated algorithm names.
    config.algorithms = "random_search"
    config.data_dir = ""  # '' = $NASJAX_DATA
    config.wait = False  # loop in plain Python until interrupted (interrupt tests)
    config.inner = ml_collections.ConfigDict()
    config.inner.rate = 0.5  # a learning rate
    if preset == "big":
        config.num_trials = 300
    return config
