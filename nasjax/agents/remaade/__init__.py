"""ReMAADE and its policy-gradient ablations (seed 004): searchers by name.

``make_searcher(name, config)`` builds one of :data:`VARIANTS` from a ``ConfigDict`` with
the fields of ``configs/search.py``'s ``remaade`` block (the block itself, or a config that
holds it as ``config.remaade``):

- ``remaade``: as configured (defaults: seed Table 3, ``remaade_short``);
- ``remaade_reinforce`` / ``remaade_ppo``: the objective overridden (Table 4);
- ``reinforce_made``: REINFORCE with a MADE policy (Table 4);
- ``reinforce``: plain vanilla REINFORCE, independent categoricals, only biases (eq. 15);
- ``remaade_s<k>``: ``num_orders = k`` (Table 6); ``remaade_sall`` is ``S = N!``.
"""

from __future__ import annotations

import re

import ml_collections

from nasjax.agents.base import Searcher
from nasjax.agents.remaade import made, maade, searcher
from nasjax.spaces import nb101_string

TABLE6_ORDERS = (1, 2, 4, 6, 8, 16)  # S values of seed Table 6 (plus N!)
VARIANTS: tuple[str, ...] = (
    "remaade", "remaade_reinforce", "remaade_ppo", "reinforce_made", "reinforce",
    *(f"remaade_s{s}" for s in TABLE6_ORDERS), "remaade_sall")
POLICIES = ("maade", "made", "independent")
_ORDERS_NAME = re.compile(r"remaade_s(all|[1-9][0-9]*)")

# Fields this package reads beyond the seed's (defaults used when a config lacks them).
EXTRA_DEFAULTS = {
    "ff_dim": 0,  # PosFF hidden width, 0 = embed_dim
    "made_hidden": made.DEFAULT_HIDDEN,  # MADE hidden units
    "pool_factor": 2,  # sampling candidates per round, in units of batch_size
    "max_rounds": 16,  # sampling rounds per batch before the uniform fallback
}


def _policy(kind: str, config):
    cardinalities = nb101_string.CARDINALITIES
    if kind == "maade":
        return maade.make_policy(cardinalities, config.embed_dim, config.num_layers,
                                 config.get("ff_dim", EXTRA_DEFAULTS["ff_dim"]))
    if kind == "made":
        return made.make_made_policy(cardinalities,
                                     config.get("made_hidden", EXTRA_DEFAULTS["made_hidden"]))
    if kind == "independent":
        return made.make_independent_policy(cardinalities)
    raise ValueError(f"unknown policy {kind!r}; choose one of {', '.join(POLICIES)}")


def make_searcher(name: str, config: ml_collections.ConfigDict) -> Searcher:
    """The ReMAADE variant called ``name`` with hyperparameters from ``config``.

    Raises:
      ValueError for an unknown name (listing the valid ones) or bad hyperparameters.
    """
    if "remaade" in config and isinstance(config.remaade, ml_collections.ConfigDict):
        config = config.remaade
    kind, objective, num_orders = config.policy, config.objective, config.num_orders
    match = _ORDERS_NAME.fullmatch(name)
    if name == "remaade_reinforce":
        objective = "reinforce"
    elif name == "remaade_ppo":
        objective = "ppo"
    elif name == "reinforce_made":
        kind, objective = "made", "reinforce"
    elif name == "reinforce":
        kind, objective = "independent", "reinforce"
    elif match:
        num_orders = searcher.ALL_ORDERS if match.group(1) == "all" else int(match.group(1))
    elif name != "remaade":
        raise ValueError(f"unknown ReMAADE variant {name!r}; choose one of "
                         f"{', '.join(VARIANTS)} (or remaade_s<k> for any k >= 1)")
    return searcher.make_remaade(
        _policy(kind, config), name=name, batch_size=config.batch_size, num_orders=num_orders,
        learning_rate=config.learning_rate, objective=objective, clip_eps=config.clip_eps,
        ppo_epochs=config.ppo_epochs, ema_decay=config.ema_decay,
        pool_factor=config.get("pool_factor", EXTRA_DEFAULTS["pool_factor"]),
        max_rounds=config.get("max_rounds", EXTRA_DEFAULTS["max_rounds"]))
