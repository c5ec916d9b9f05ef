"""ReMAADE and its policy-gradient ablations (ReMAADE §§5-8) as registered agents.

Every variant reads the ``remaade`` block declared in :data:`FIELDS` (ReMAADE Table 3's
short-term setting by default) with its own overrides (registered in ``nasjax.agents``):

- ``remaade``: as configured;
- ``remaade_reinforce`` / ``remaade_ppo``: the objective overridden (Table 4);
- ``reinforce_made``: REINFORCE with a MADE policy (Table 4);
- ``reinforce``: plain vanilla REINFORCE, independent categoricals, only biases (eq. 15);
- ``remaade_s<k>`` for the S of Table 6, and ``remaade_sall``: ``S = N!``.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from nasjax import config_fields
from nasjax import config_rules as rules
from nasjax.agents.base import Agent, Searcher
from nasjax.agents.remaade import maade, made, searcher
from nasjax.config_fields import field

__all__ = ["FIELDS", "POLICIES", "TRACED", "agent", "hyperparams", "make_searcher"]

# The policy of a ``remaade`` block: MAADE (§5), MADE or independent categoricals (Table 4).
POLICIES = {
    "maade": lambda choices, config: maade.make_policy(choices, config.embed_dim,
                                                       config.num_layers, config.ff_dim,
                                                       config.init_stddev),
    "made": lambda choices, config: made.make_made_policy(choices, config.made_hidden),
    "independent": lambda choices, config: made.make_independent_policy(choices),
}


# The ``remaade`` block of the search configs: ReMAADE's short-term setting (Table 3); ``ours``
# marks the values the paper does not give.
FIELDS = config_fields.block(
    learning_rate=field(1e-2, rules.number(0.0, low_open=True), "alpha, Adam (Table 3 text)"),
    embed_dim=field(36, rules.positive_int(), "d, MAADE embedding dimension (Table 3 text)"),
    num_layers=field(1, rules.positive_int(),
                     'M, transformer blocks ("in all experiments, we set M = 1")'),
    ff_dim=field(0, rules.int_range(0, 1 << 16),
                 "PosFF hidden width, 0 = embed_dim (not in the paper)", ours=True),
    init_stddev=field(1.0, rules.number(0.0, low_open=True),
                      "q_i, V ~ N(0, s^2); other layers flax defaults", ours=True),
    num_orders=field(1, rules.int_range(0, 1 << 20),
                     "S, autoregressive orders to sample from; 0 = all N! (Table 3 text)"),
    batch_size=field(30, rules.positive_int(),
                     "B, strings sampled and queried per update (Table 3 text)"),
    objective=field("reinforce", rules.one_of("reinforce", "ppo"),
                    "'reinforce' (eq. 1) | 'ppo' (eq. 11); short term: REINFORCE"),
    clip_eps=field(0.1, rules.number(0.0, 1.0, low_open=True, high_open=True),
                   'PPO epsilon ("in all experiments ... epsilon = 0.1")'),
    ppo_epochs=field(4, rules.positive_int(),
                     "Adam steps per batch with PPO (not in the paper)", ours=True),
    ema_decay=field(0.9, rules.number(0.0, 1.0, high_open=True),
                    "decay of the EMA reward baseline b (not in the paper)", ours=True),
    policy=field("maade", rules.one_of(*POLICIES),
                 "'maade' | 'made' | 'independent' (plain REINFORCE, eq. 15)"),
    made_hidden=field(64, rules.positive_int(),
                      "MADE hidden units (Table 4; the paper gives no size)", ours=True),
    pool_factor=field(2, rules.positive_int(),
                      "sampling candidates per round, in units of batch_size", ours=True),
    max_rounds=field(16, rules.positive_int(),
                     "sampling rounds per batch before the fallback", ours=True),
)


def _policy(kind: str, choices: tuple[int, ...], config):
    if kind not in POLICIES:
        raise ValueError(f"unknown policy {kind!r}; choose one of {', '.join(POLICIES)}")
    return POLICIES[kind](choices, config)


# Fields of the block the searcher also takes traced (float32[] arrays, :func:`hyperparams`):
# they keep every array shape, so sweep points that differ only in them share one program.
TRACED = ("learning_rate", "ema_decay")


def hyperparams(config) -> dict[str, jax.Array]:
    """The :data:`TRACED` fields of a ``remaade`` block as float32[] arrays, with ``ema_rest``
    (``1 - ema_decay`` in float64 on the host, as a single run computes it)."""
    return {"learning_rate": jnp.float32(config.learning_rate),
            "ema_decay": jnp.float32(config.ema_decay),
            "ema_rest": jnp.float32(1.0 - config.ema_decay)}


def make_searcher(space, config, name: str = "remaade", *, duplicates: str = "query",
                  budget: int = 0, hyper: dict[str, jax.Array] | None = None) -> Searcher:
    """The ReMAADE searcher over ``space`` with the hyperparameters of a ``remaade`` block and
    the shared ``duplicates`` rule (:mod:`nasjax.agents.duplicates`).

    ``hyper`` (:func:`hyperparams`, traced) replaces the block's :data:`TRACED` fields, so one
    compiled program serves sweep points that differ only in them; the block's own values
    must then have passed their checks.

    Raises:
      ValueError for an unknown policy or bad hyperparameters.
    """
    traced = hyper or {}
    return searcher.make_remaade(
        space, _policy(config.policy, tuple(space.choices), config), name=name,
        batch_size=config.batch_size, num_orders=config.num_orders,
        learning_rate=traced.get("learning_rate", config.learning_rate),
        objective=config.objective, clip_eps=config.clip_eps, ppo_epochs=config.ppo_epochs,
        ema_decay=traced.get("ema_decay", config.ema_decay),
        pool_factor=config.pool_factor, max_rounds=config.max_rounds,
        duplicates_rule=duplicates, budget=budget, ema_rest=traced.get("ema_rest"))


def agent(config: str, variant: str = "remaade", overrides: tuple = ()) -> Agent:
    """The ReMAADE variant ``variant``: the config block ``config`` (named by its
    registration) with ``overrides`` applied."""
    return Agent(name=variant, description=f"ReMAADE variant {variant}",
                 queries="one query per sampled string (batches of B)", config=config,
                 overrides=tuple(overrides),
                 make_searcher=functools.partial(make_searcher, name=variant),
                 traced=TRACED, hyperparams=hyperparams)
