"""A tiny config family for tests/launch/test_common.py (the shape of configs/*.py)."""

from __future__ import annotations

import ml_collections

from nasjax import config_fields
from nasjax import config_rules as rules
from nasjax.config_fields import field

PRESETS = ("default", "big")
ALGORITHMS = ("random_search", "local_search")

FIELDS = config_fields.block(
    num_trials=field(3, rules.positive_int(), "independent trials"),
    budget=field(10, rules.positive_int(), "queries per trial"),
    budgets=field((5, 10), rules.sequence_of(rules.positive_int()), "table rows"),
    mode=field("mean", rules.one_of("mean", "noisy"), "what searchers see"),
    algorithms=field("random_search", rules.names(lambda: ALGORITHMS, "algorithm"),
                     "Comma-separated algorithm names."),
    data_dir=field("", rules.text("a directory, or '' for $NASJAX_DATA"), "'' = $NASJAX_DATA"),
    wait=field(False, rules.boolean(),
               "loop in plain Python until interrupted (interrupt tests)"),
    inner=config_fields.block(rate=field(0.5, rules.number(0.0, 1.0, low_open=True),
                                         "a learning rate")),
    shaping=field(2.0, rules.Rule("a number, or None (no shaping)",
                                  lambda v: v is None or isinstance(v, float)),
                  "a field whose rule allows None"),
)
RULES = FIELDS.rules()


def get_config(preset: str = "default") -> ml_collections.ConfigDict:
    """The fake config; ``preset='big'`` has more trials."""
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose one of: {', '.join(PRESETS)}")
    config = FIELDS.config()
    if preset == "big":
        config.num_trials = 300
    return config
