"""Query-budget searches (random search, regularized evolution, ReMAADE and its ablations).

  python -m launch.search --config=configs/search.py[:PRESET] --workdir=DIR

Presets (ReMAADE §8):

- ``default``: the main comparison at ReMAADE's short-term budget (150 queries): random
  search, regularized evolution and ReMAADE, 100 trials each (minutes on 2 CPU cores).
- ``remaade_short``: ReMAADE Table 3 (budget 150, 500 trials), ReMAADE with REINFORCE,
  ``alpha = 1e-2, d = 36, S = 1, B = 30``, against random search, regularized evolution and
  plain REINFORCE.
- ``remaade_medium``: ReMAADE Table 5 (budget 3,200, 500 trials), ReMAADE with PPO,
  ``alpha = 1e-3, d = 45, S = 4, B = 64``.
- ``ablation``: ReMAADE Table 4 (budget 150, short-term hyperparameters): random search, plain
  REINFORCE, REINFORCE with MADE, ReMAADE with and without PPO.
- ``orders``: ReMAADE Table 6, ReMAADE with ``S`` = 1, 2, 4, 6, 8, 16 and N! orders. Its
  errors (at ``S = 4`` the same as Table 5's ReMAADE) show it ran at the medium-term
  setting: budget 3,200, PPO, ``alpha = 1e-3, d = 45, B = 64``.

ReMAADE tracks the best *noisy* validation accuracy ("the best random validation error")
and reports the test error of that cell, so its presets use ``mode = 'noisy'``. Tables
report error = 100 - accuracy (%), mean +- std over trials with the 95% percentile-bootstrap
CI of the mean (5,000 resamples, ``nasjax.evaluation.stats.budget_table``). A benchmark
without test accuracy (``nb101-surrogate``, ``nb101-real-20k``) reports the mean validation
error of the selected cell instead, and every output says which.

Every proposal is a query, repeats included, as in the papers (``duplicates = 'query'``);
``'resample'`` (ours) redraws a proposal whose architecture the trial already queried, for
every searcher alike (``nasjax.agents.duplicates``). Reports give unique architectures per
trial, the mean error of the first and last ``window`` queries and the benchmark's headroom.
"""

from __future__ import annotations

import ml_collections

from nasjax import config_fields, registry
from nasjax import config_rules as rules
from nasjax.config_fields import field
from nasjax.configs import agents

PRESETS = ("default", "remaade_short", "remaade_medium", "ablation", "orders")
DUPLICATES = ("query", "resample")  # nasjax.agents.duplicates.RULES
SHORT_BUDGETS = (50, 100, 150)  # table rows for the 150-query budget
MEDIUM_BUDGETS = (150, 400, 800, 1600, 3200)  # table rows for the 3,200-query budget
# Named sweeps (python -m launch.search --sweep=NAME): ReMAADE Table 6's S (0 = all N! orders),
# e.g. on --config=configs/search.py:remaade_medium --config.algorithms=remaade.
SWEEPS = {"table6": {"remaade.num_orders": (1, 2, 4, 6, 8, 16, 0)}}


def _searchers() -> list[str]:
    """Registered agents with a searcher."""
    return [name for name in registry.names("agent")
            if registry.entry("agent", name).info.get("type") in ("searcher", "both")]


# Every field: the launch fields, the search's own, then the block of each registered searcher
# with hyperparameters (its registration's ``config``), in registration order.
FIELDS = config_fields.block(
    **config_fields.launch_fields(PRESETS, benchmark="a registered benchmark "
                                  "(nasjax.benchmarks.names())",
                                  seed="every trial key derives from it"),
    num_trials=field(100, rules.positive_int(), "independent trials per algorithm"),
    budget=field(150, rules.positive_int(), "queries per trial (ReMAADE short term)"),
    budgets=field(SHORT_BUDGETS, rules.sequence_of(rules.positive_int()),
                  "query counts of the summary table rows"),
    algorithms=field("random_search_uniform,regularized_evolution,remaade",
                     rules.names(_searchers, "searcher"),
                     'Comma-separated registered agents with a searcher '
                     '(nasjax.registry.names("agent")).'),
    mode=field("noisy", rules.one_of("mean", "noisy"),
               "what searchers see: one 'noisy' draw (ReMAADE) or the 'mean'"),
    trials_per_chunk=field(100, rules.positive_int(),
                           "trials vmapped per jitted call (progress bar granularity)"),
    duplicates=field("query", rules.one_of(*DUPLICATES),
                     "repeats: 'query' (papers) | 'resample' (ours): each query new"),
    window=field(30, rules.positive_int(),
                 "first/last queries whose mean error the report compares (ReMAADE's B)"),
).but(**agents.declared())
RULES = FIELDS.rules()


def _medium(config: ml_collections.ConfigDict) -> None:
    """ReMAADE's medium-term setting (Table 5): budget 3,200, PPO, alpha 1e-3, d 45, S 4, B 64."""
    config.budget = 3200
    config.budgets = MEDIUM_BUDGETS
    config.trials_per_chunk = 50  # smaller jitted chunks for the long trials
    agents.remaade_medium(config.remaade)


def get_config(preset: str = "default") -> ml_collections.ConfigDict:
    """The search config; ``preset`` selects a named experiment (see the module docstring)."""
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose one of: {', '.join(PRESETS)}")
    config = FIELDS.config(preset=preset)
    if preset == "remaade_short":
        config.num_trials = 500  # "metrics averaged over 500 trials"
        config.algorithms = "random_search_uniform,regularized_evolution,reinforce,remaade"
    elif preset == "remaade_medium":
        config.num_trials = 500
        config.algorithms = "random_search_uniform,regularized_evolution,remaade"
        _medium(config)
    elif preset == "ablation":
        config.num_trials = 500
        config.algorithms = ("random_search_uniform,reinforce,reinforce_made,remaade_reinforce,"
                             "remaade_ppo")
    elif preset == "orders":
        config.num_trials = 500
        config.algorithms = ",".join(f"remaade_s{s}" for s in (1, 2, 4, 6, 8, 16, "all"))
        _medium(config)
    return config
