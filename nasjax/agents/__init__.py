"""Agents: episodic policies over the incremental MDP and query-budget searchers.

Each is registered by name (``nasjax.registry.make("agent", name)`` gives its
:class:`~nasjax.agents.base.Agent`): random search, random walk, local search and the Ape-X
transformer Q-agent (Cassimon et al. §3.2.3), regularized evolution and ReMAADE with its
ablations (ReMAADE §§7-8). A searcher with hyperparameters registers through
:func:`_register_searcher` with its block name and its declaration ``"module:FIELDS"``
(:mod:`nasjax.config_fields`), which the search configs hold as that block.
"""

from nasjax import registry
from nasjax.agents.base import Agent, Policy, Searcher, TrialResult, run_trial, run_trials

__all__ = ["Agent", "Policy", "Searcher", "TrialResult", "run_trial", "run_trials"]

registry.register("agent", "random_search", "nasjax.agents.random_search:agent", type="both")
registry.register("agent", "random_search_uniform", "nasjax.agents.random_search:uniform_agent",
                  type="searcher")
registry.register("agent", "random_walk", "nasjax.agents.random_walk:agent", type="policy")
registry.register("agent", "local_search", "nasjax.agents.local_search:agent", type="policy")
registry.register("agent", "apex", "nasjax.agents.apex:agent", type="policy")


def _register_searcher(name: str, factory: str, block: str, fields: str, **kwargs) -> None:
    """Registers a searcher with hyperparameters: its config block is named here alone (the
    factory gets it as ``config``; :mod:`nasjax.configs.agents` reads it from the entry)."""
    registry.register("agent", name, factory, type="searcher", kwargs={**kwargs, "config": block},
                      config=(block, fields))


_register_searcher("regularized_evolution", "nasjax.agents.regularized_evolution:agent",
                   "regularized_evolution", "nasjax.agents.regularized_evolution:FIELDS")
# ReMAADE and its ablations (ReMAADE Tables 3-6): one config block, per-variant overrides.
_REMAADE_VARIANTS = {
    "remaade": (),
    "remaade_reinforce": (("objective", "reinforce"),),
    "remaade_ppo": (("objective", "ppo"),),
    "reinforce_made": (("policy", "made"), ("objective", "reinforce")),
    "reinforce": (("policy", "independent"), ("objective", "reinforce")),
    **{f"remaade_s{s}": (("num_orders", s),) for s in (1, 2, 4, 6, 8, 16)},  # Table 6
    "remaade_sall": (("num_orders", 0),),  # S = N!
}
for _name, _overrides in _REMAADE_VARIANTS.items():
    _register_searcher(_name, "nasjax.agents.remaade:agent", "remaade",
                       "nasjax.agents.remaade:FIELDS", variant=_name, overrides=_overrides)
