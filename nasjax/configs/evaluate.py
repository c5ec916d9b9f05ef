"""The 250,000-episode evaluation of Cassimon et al. §4: random search, random walk, local search.

  python -m launch.evaluate --config=configs/evaluate.py[:PRESET] --workdir=DIR

Presets: ``full`` (the protocol on NAS-Bench-101: 5 agent seeds x 5 sets x 10^4 initial
states, 32-step episodes; §4.1.1), ``quick`` (a small smoke run of the same), ``nb301`` (the
same protocol on NAS-Bench-301, §4.2, Table 2: on the embedded ``nb301-surrogate``, a
SURROGATE fitted on 725 architectures; ``--config.benchmark=nb301`` for the official ensemble).
"""

from __future__ import annotations

import ml_collections

from nasjax import config_rules as rules
from nasjax.configs import environment

PRESETS = ("full", "quick", "nb301")


RULES = {
    "preset": rules.one_of(*PRESETS),
    "benchmark": rules.name(lambda: _registry().names("benchmark"), "benchmark"),
    "data_dir": rules.text("a directory, or '' for $NASJAX_DATA / ~/.cache/nasjax"),
    "agents": rules.names(lambda: _policies(), "agent with a policy"),
    "agent_seeds": rules.positive_int(),
    "apex_checkpoints": rules.text("comma-separated launch.train_apex workdirs or sweep "
                                   "directories, or 'untrained'"),
    "num_sets": rules.positive_int(),
    "episodes_per_set": rules.positive_int(),
    "set_seed": rules.int_range(0, 2**31 - 1),
    "episodes_per_chunk": rules.positive_int(),
    "max_queries": rules.positive_int(),
    "budgets": rules.sequence_of(rules.positive_int()),
    "gof_max_samples": rules.int_range(2, 10**9),
    "gof_mc_samples": rules.int_range(0, 10**9),
    "correlation_samples": rules.int_range(2, 10**7),
    "seed": rules.int_range(0, 2**31 - 1),
    **rules.prefixed("env", environment.RULES),
}


def _registry():
    from nasjax import registry

    return registry


def _policies() -> list[str]:
    """Registered agents with an episodic policy."""
    registry = _registry()
    return [name for name in registry.names("agent")
            if registry.entry("agent", name).info.get("type") in ("policy", "both")]


def get_config(preset: str = "full") -> ml_collections.ConfigDict:
    """The evaluation config of a preset (see the module docstring)."""
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose one of: {', '.join(PRESETS)}")
    config = ml_collections.ConfigDict()
    config.preset = preset
    config.benchmark = "nb101-surrogate"  # must cover the whole space (episodes wander)
    config.data_dir = ""  # '' = $NASJAX_DATA or ~/.cache/nasjax
    config.agents = "random_walk,local_search,random_search"  # registered agents with a policy
    config.agent_seeds = 5  # seeds 0..4, as the paper trains/evaluates 5 agents (§4.1.1)
    # The apex agent's trained runs, one per agent seed (launch.train_apex workdirs, or a
    # --sweep directory for its points, comma-separated); 'untrained' = random-init networks.
    config.apex_checkpoints = ""
    config.num_sets = 5  # sets of initial states (§4.1.1)
    config.episodes_per_set = 10_000  # initial states per set (§4.1.1)
    config.set_seed = 1000  # set s is drawn from PRNG key set_seed + s (fixed, saved)
    config.env = environment.get("nb101")  # N, alpha, episode lengths, query mode, neighbours
    config.episodes_per_chunk = 10_000  # episodes per jitted call
    config.max_queries = 300  # best-vs-queries trials (Fig. 10)
    config.budgets = (50, 100, 150, 300)  # Table 1 columns
    config.gof_max_samples = 1000  # episodes the t goodness-of-fit test sees (a subsample)
    config.gof_mc_samples = 1000  # its Monte-Carlo samples, as the paper (0 = skip the test)
    config.correlation_samples = 10_000  # uniform architectures of Fig. 11's correlation
    config.seed = 0  # bootstrap seed, and the key of Fig. 11's uniform architectures
    if preset == "quick":
        config.agent_seeds, config.num_sets, config.episodes_per_set = 1, 1, 2000
        config.episodes_per_chunk = 2000
        config.gof_mc_samples = 0
    if preset == "nb301":  # Cassimon et al. §4.2
        config.benchmark = "nb301-surrogate"  # embedded default; "nb301" = official ensemble
        config.env = environment.get("nb301")  # alpha = 32, N = 50, validation accuracy
        config.max_queries = 1000  # best-vs-queries trials (Fig. 15)
        config.budgets = (150, 200, 300, 400, 800, 1000)  # Table 2 columns
    return config
