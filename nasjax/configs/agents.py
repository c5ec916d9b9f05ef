"""Hyperparameter blocks of the registered agents, shared by the experiment configs.

An agent's registration names its block (``nasjax.agents``); every field is settable from the
command line of the experiment that holds it (``--config.remaade.embed_dim=45``).
"""

from __future__ import annotations

import ml_collections

from nasjax import config_rules as rules


def regularized_evolution() -> ml_collections.ConfigDict:
    """Regularized evolution as the NAS-Bench-101 authors ran it (official ``NASBench.ipynb``)."""
    config = ml_collections.ConfigDict()
    config.population_size = 50  # P: members kept, the oldest dies (official default; no ReMAADE)
    config.tournament_size = 10  # T: members sampled per tournament (same source)
    config.mutation_rate = 1.0  # r: position i changes w.p. r * space.mutation_rates[i]
    # (mutate_spec default; NAS-Bench-101: edges w.p. r/7, ops w.p. r/5)
    config.initial = "uniform_string"  # first P: 'uniform_string' (official) | 'sampler'
    config.require_change = False  # redraw children equal to the parent: True ours, False official
    return config


def remaade() -> ml_collections.ConfigDict:
    """ReMAADE at its short-term setting (ReMAADE Table 3); the ablations override fields."""
    config = ml_collections.ConfigDict()
    config.learning_rate = 1e-2  # alpha, Adam (Table 3 text)
    config.embed_dim = 36  # d, MAADE embedding dimension (Table 3 text)
    config.num_layers = 1  # M, transformer blocks ("in all experiments, we set M = 1")
    config.ff_dim = 0  # our choice: PosFF hidden width, 0 = embed_dim (not in the paper)
    config.init_stddev = 1.0  # our choice: q_i, V ~ N(0, s^2); other layers flax defaults
    config.num_orders = 1  # S, autoregressive orders to sample from; 0 = all N! (Table 3 text)
    config.batch_size = 30  # B, strings sampled and queried per update (Table 3 text)
    config.objective = "reinforce"  # 'reinforce' (eq. 1) | 'ppo' (eq. 11); short term: REINFORCE
    config.clip_eps = 0.1  # PPO epsilon ("in all experiments ... epsilon = 0.1")
    config.ppo_epochs = 4  # our choice: Adam steps per batch with PPO (not in the paper)
    config.ema_decay = 0.9  # our choice: decay of the EMA reward baseline b (not in the paper)
    config.policy = "maade"  # 'maade' | 'made' | 'independent' (plain REINFORCE, eq. 15)
    config.made_hidden = 64  # our choice: MADE hidden units (Table 4; the paper gives no size)
    config.pool_factor = 2  # our choice: sampling candidates per round, in units of batch_size
    config.max_rounds = 16  # our choice: sampling rounds per batch before the fallback
    return config


def remaade_medium(config: ml_collections.ConfigDict) -> None:
    """ReMAADE's medium-term setting (Table 5): PPO, alpha 1e-3, d 45, S 4, B 64."""
    config.objective = "ppo"
    config.learning_rate = 1e-3
    config.embed_dim = 45
    config.num_orders = 4
    config.batch_size = 64


# Fields whose values the papers do not give (their help comments start with "our choice");
# reports mark them.
OUR_CHOICE = {
    "remaade": ("ff_dim", "init_stddev", "ppo_epochs", "ema_decay", "made_hidden", "pool_factor",
                "max_rounds"),
}

REGULARIZED_EVOLUTION_RULES = {
    "population_size": rules.int_range(2, 100_000),
    "tournament_size": rules.positive_int(),
    "mutation_rate": rules.number(0.0, low_open=True),
    "initial": rules.one_of("uniform_string", "sampler"),
    "require_change": rules.boolean(),
}

REMAADE_RULES = {
    "learning_rate": rules.number(0.0, low_open=True),
    "embed_dim": rules.positive_int(),
    "num_layers": rules.positive_int(),
    "ff_dim": rules.int_range(0, 1 << 16),
    "init_stddev": rules.number(0.0, low_open=True),
    "num_orders": rules.int_range(0, 1 << 20),
    "batch_size": rules.positive_int(),
    "objective": rules.one_of("reinforce", "ppo"),
    "clip_eps": rules.number(0.0, 1.0, low_open=True, high_open=True),
    "ppo_epochs": rules.positive_int(),
    "ema_decay": rules.number(0.0, 1.0, high_open=True),
    "policy": rules.one_of("maade", "made", "independent"),
    "made_hidden": rules.positive_int(),
    "pool_factor": rules.positive_int(),
    "max_rounds": rules.positive_int(),
}
