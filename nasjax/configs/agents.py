"""Hyperparameter blocks of the registered searchers, for the experiment configs.

Each block is declared beside its agent (``FIELDS`` of :mod:`nasjax.agents.regularized_evolution`
and :mod:`nasjax.agents.remaade`) and named by the agent's registration (``config=(block name,
"module:FIELDS")``); every field is settable from the command line of the experiment that holds
it (``--config.remaade.embed_dim=45``).
"""

from __future__ import annotations

import ml_collections

from nasjax import config_fields, registry


def declared() -> dict[str, config_fields.Block]:
    """Block name -> declaration, of every registered agent with one (registration order)."""
    found = {}
    for name in registry.names("agent"):
        block = registry.entry("agent", name).info.get("config")
        if block is not None and block[0] not in found:
            found[block[0]] = registry.resolve(block[1])
    return found


def block(name: str) -> ml_collections.ConfigDict:
    """The defaults of the block ``name`` (e.g. "remaade")."""
    return declared()[name].config()


def regularized_evolution() -> ml_collections.ConfigDict:
    """Regularized evolution as the NAS-Bench-101 authors ran it (official ``NASBench.ipynb``)."""
    return block("regularized_evolution")


def remaade() -> ml_collections.ConfigDict:
    """ReMAADE at its short-term setting (ReMAADE Table 3); the ablations override fields."""
    return block("remaade")


def remaade_medium(config: ml_collections.ConfigDict) -> None:
    """ReMAADE's medium-term setting (Table 5): PPO, alpha 1e-3, d 45, S 4, B 64."""
    config.objective = "ppo"
    config.learning_rate = 1e-3
    config.embed_dim = 45
    config.num_orders = 4
    config.batch_size = 64


def our_choice() -> dict[str, tuple[str, ...]]:
    """Block name -> its fields whose values the papers do not give (reports mark them)."""
    return {name: fields.ours() for name, fields in declared().items() if fields.ours()}
