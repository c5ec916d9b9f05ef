"""ReMAADE and its policy-gradient ablations (ReMAADE §§5-8) as registered agents.

Every variant reads the ``remaade`` block of ``configs/agents.py`` (ReMAADE Table 3's
short-term setting by default) with its own overrides (registered in ``nasjax.agents``):

- ``remaade``: as configured;
- ``remaade_reinforce`` / ``remaade_ppo``: the objective overridden (Table 4);
- ``reinforce_made``: REINFORCE with a MADE policy (Table 4);
- ``reinforce``: plain vanilla REINFORCE, independent categoricals, only biases (eq. 15);
- ``remaade_s<k>`` for the S of Table 6, and ``remaade_sall``: ``S = N!``.
"""

from __future__ import annotations

import functools

from nasjax.agents.base import Agent, Searcher
from nasjax.agents.remaade import maade, made, searcher

__all__ = ["POLICIES", "agent", "make_searcher"]

# The policy of a ``remaade`` block: MAADE (§5), MADE or independent categoricals (Table 4).
POLICIES = {
    "maade": lambda choices, config: maade.make_policy(choices, config.embed_dim,
                                                       config.num_layers, config.ff_dim,
                                                       config.init_stddev),
    "made": lambda choices, config: made.make_made_policy(choices, config.made_hidden),
    "independent": lambda choices, config: made.make_independent_policy(choices),
}


def _policy(kind: str, choices: tuple[int, ...], config):
    if kind not in POLICIES:
        raise ValueError(f"unknown policy {kind!r}; choose one of {', '.join(POLICIES)}")
    return POLICIES[kind](choices, config)


def make_searcher(space, config, name: str = "remaade", *, duplicates: str = "query",
                  budget: int = 0) -> Searcher:
    """The ReMAADE searcher over ``space`` with the hyperparameters of a ``remaade`` block and
    the shared ``duplicates`` rule (:mod:`nasjax.agents.duplicates`).

    Raises:
      ValueError for an unknown policy or bad hyperparameters.
    """
    return searcher.make_remaade(
        space, _policy(config.policy, tuple(space.choices), config), name=name,
        batch_size=config.batch_size, num_orders=config.num_orders,
        learning_rate=config.learning_rate, objective=config.objective,
        clip_eps=config.clip_eps, ppo_epochs=config.ppo_epochs, ema_decay=config.ema_decay,
        pool_factor=config.pool_factor, max_rounds=config.max_rounds,
        duplicates_rule=duplicates, budget=budget)


def agent(variant: str = "remaade", overrides: tuple = ()) -> Agent:
    """The ReMAADE variant ``variant``: the ``remaade`` block with ``overrides`` applied."""
    return Agent(name=variant, description=f"ReMAADE variant {variant}",
                 queries="one query per sampled string (batches of B)", config="remaade",
                 overrides=tuple(overrides),
                 make_searcher=functools.partial(make_searcher, name=variant))
