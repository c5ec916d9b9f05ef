"""The 250,000-episode evaluation of Cassimon et al. §4: random search, random walk, local search.

  python -m launch.evaluate --config=configs/evaluate.py[:PRESET] --workdir=DIR

Presets: ``full`` (the protocol on NAS-Bench-101: 5 agent seeds x 5 sets x 10^4 initial
states, 32-step episodes; §4.1.1), ``quick`` (a small smoke run of the same), ``nb301`` (the
same protocol on NAS-Bench-301, §4.2, Table 2: on the embedded ``nb301-surrogate``, a
SURROGATE fitted on 725 architectures; ``--config.benchmark=nb301`` for the official ensemble).
"""

from __future__ import annotations

import ml_collections

from nasjax import config_fields, env, registry
from nasjax import config_rules as rules
from nasjax.config_fields import field

PRESETS = ("full", "quick", "nb301")


def _policies() -> list[str]:
    """Registered agents with an episodic policy."""
    return [name for name in registry.names("agent")
            if registry.entry("agent", name).info.get("type") in ("policy", "both")]


_LAUNCH = config_fields.launch_fields(
    PRESETS, benchmark="must cover the whole space (episodes wander)",
    seed="bootstrap seed, and the key of Fig. 11's uniform architectures")
# Every field (the launch fields first, the seed last).
FIELDS = config_fields.block(
    preset=_LAUNCH["preset"],
    benchmark=_LAUNCH["benchmark"],
    data_dir=_LAUNCH["data_dir"],
    agents=field("random_walk,local_search,random_search",
                 rules.names(_policies, "agent with a policy"), "registered agents with a policy"),
    agent_seeds=field(5, rules.positive_int(),
                      "seeds 0..4, as the paper trains/evaluates 5 agents (§4.1.1)"),
    apex_checkpoints=field("", rules.text("comma-separated launch.train_apex workdirs or sweep "
                                          "directories, or 'untrained'"),
                           "the apex agent's trained runs, one per agent seed (launch.train_apex "
                           "workdirs, or a --sweep directory for its points, comma-separated); "
                           "'untrained' = random-init networks"),
    num_sets=field(5, rules.positive_int(), "sets of initial states (§4.1.1)"),
    episodes_per_set=field(10_000, rules.positive_int(), "initial states per set (§4.1.1)"),
    set_seed=field(1000, rules.int_range(0, 2**31 - 1),
                   "set s is drawn from PRNG key set_seed + s (fixed, saved)"),
    env=env.FIELDS,  # N, alpha, episode lengths, query mode, neighbours: the space's
    episodes_per_chunk=field(10_000, rules.positive_int(), "episodes per jitted call"),
    max_queries=field(300, rules.positive_int(), "best-vs-queries trials (Fig. 10)"),
    budgets=field((50, 100, 150, 300), rules.sequence_of(rules.positive_int()),
                  "Table 1 columns"),
    gof_max_samples=field(1000, rules.int_range(2, 10**9),
                          "episodes the t goodness-of-fit test sees (a subsample)"),
    gof_mc_samples=field(1000, rules.int_range(0, 10**9),
                         "its Monte-Carlo samples, as the paper (0 = skip the test)"),
    correlation_samples=field(10_000, rules.int_range(2, 10**7),
                              "uniform architectures of Fig. 11's correlation"),
    seed=_LAUNCH["seed"],
)
RULES = FIELDS.rules()


def get_config(preset: str = "full") -> ml_collections.ConfigDict:
    """The evaluation config of a preset (see the module docstring)."""
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose one of: {', '.join(PRESETS)}")
    config = FIELDS.config(preset=preset, env=env.config("nb101"))
    if preset == "quick":
        config.agent_seeds, config.num_sets, config.episodes_per_set = 1, 1, 2000
        config.episodes_per_chunk = 2000
        config.gof_mc_samples = 0
    if preset == "nb301":  # Cassimon et al. §4.2
        config.benchmark = "nb301-surrogate"  # embedded default; "nb301" = official ensemble
        config.env = env.config("nb301")  # its registration: alpha = 32, N = 50
        config.max_queries = 1000  # best-vs-queries trials (Fig. 15)
        config.budgets = (150, 200, 300, 400, 800, 1000)  # Table 2 columns
    return config
