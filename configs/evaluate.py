"""The 250,000-episode evaluation of seed 000 (section 4): random walk, local search, random search.

  python -m launch.evaluate --config=configs/evaluate.py --workdir=DIR

Defaults are the full protocol: 5 agent seeds x 5 sets x 10^4 initial states, 32 steps.
"""

from __future__ import annotations

import ml_collections


def get_config(preset: str = "full") -> ml_collections.ConfigDict:
    """The evaluation config; ``preset='quick'`` is a small smoke run."""
    config = ml_collections.ConfigDict()
    config.benchmark = "nb101-surrogate"  # must cover the whole space (episodes wander)
    config.data_dir = ""  # '' = $NASJAX_DATA or ~/.cache/nasjax
    config.agents = "random_walk,local_search,random_search"
    config.agent_seeds = 5  # seeds 0..4, as the seed trains/evaluates 5 agents
    config.num_sets = 5  # sets of initial states
    config.episodes_per_set = 10_000  # initial states per set
    config.set_seed = 1000  # set s is drawn from PRNG key set_seed + s (fixed, saved)
    config.episode_length = 32  # evaluation episodes (training uses 16)
    config.max_neighbours = 50  # N
    config.alpha = 6.0  # reward shaping exponent for NAS-Bench-101
    config.query_mode = "mean"  # reduced-noise setting of the seed
    config.neighbour_mode = "table"  # 'table' (precomputed) or 'on_the_fly' (same episodes)
    config.episodes_per_chunk = 10_000  # episodes per jitted call
    config.max_queries = 300  # best-vs-queries trials
    config.budgets = (50, 100, 150, 300)  # Table 1 columns
    config.gof_max_samples = 1000  # episodes the t goodness-of-fit test sees (a subsample)
    config.gof_mc_samples = 1000  # its Monte-Carlo samples, as the seed (0 = skip the test)
    config.seed = 0  # bootstrap seed
    if preset == "quick":
        config.agent_seeds, config.num_sets, config.episodes_per_set = 1, 1, 2000
        config.episodes_per_chunk = 2000
        config.gof_mc_samples = 0
    elif preset != "full":
        raise ValueError(f"unknown preset {preset!r}; choose full or quick")
    return config
