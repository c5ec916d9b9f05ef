"""Query-budget searches (random search, regularized evolution, ReMAADE and its ablations).

  python -m launch.search --config=configs/search.py[:PRESET] --workdir=DIR

Presets: ``default``. Later presets reproduce seed 004's tables.
"""

from __future__ import annotations

import ml_collections


def get_config(preset: str = "default") -> ml_collections.ConfigDict:
    """The search config; ``preset`` selects a named experiment."""
    config = ml_collections.ConfigDict()
    config.preset = preset
    config.benchmark = "nb101-surrogate"  # a name of nasjax.benchmarks.NAMES
    config.data_dir = ""  # '' = $NASJAX_DATA or ~/.cache/nasjax
    config.seed = 0  # every trial key derives from it
    config.num_trials = 100  # independent trials per algorithm
    config.budget = 300  # queries per trial
    config.budgets = (50, 100, 150, 300)  # rows of the summary table (seed 000 Table 1)
    config.algorithms = "random_search"  # comma-separated names of nasjax.agents.registry
    config.mode = "mean"  # what searchers see: 'mean' of repeats/members, or one 'noisy' draw
    config.trials_per_chunk = 100  # trials vmapped per jitted call (progress bar granularity)
    config.bootstrap_resamples = 5000  # 95% bootstrap CI of the mean over trials
    if preset != "default":
        raise ValueError(f"unknown preset {preset!r}; choose one of: default")
    return config
