"""Local search over the incremental MDP (Cassimon et al. §3.2.3).

It queries every presented neighbour, moves to the one with the highest validation accuracy,
and stays (ending the episode) when none beats the current architecture. Each presented
neighbour is one query, at every step, the final "stay" included; the initial architecture is
free (§4.1.2; the rule is :func:`nasjax.evaluation.episodes.start_queries`).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from nasjax.agents.base import Agent, Policy

# Episodes stepped at once: each step queries N + 1 architectures, so 128 slots make batches of
# 6,528 queries (N = 50). Chosen on NAS-Bench-301's tree ensemble (2 CPU cores), where wide
# batches were slower with the row-by-row tree walk; with the dense walk of shallow ensembles
# 128, 256 and 512 slots run alike, and on NAS-Bench-101's table the width makes no difference.
SLOTS = 128


def act(oracle, obs, key: jax.Array) -> jax.Array:
    """The best presented neighbour by mean validation accuracy, or 0 when none improves.

    Ties go to the first such neighbour; a neighbour outside the benchmark never wins.

    Args:
      oracle: the benchmark it queries, bound to the environment's neighbourhood
        (``env_params.oracle``): the policy's parameters.
      obs: Observation of one environment (``nodes: Node[N + 1]``, current first).
      key: unused (the policy is deterministic).
    Returns:
      int32 action.
    """
    del key
    acc = oracle.metrics(obs.nodes).val_acc  # [N + 1]
    candidates = jnp.where(obs.action_mask[1:], jnp.nan_to_num(acc[1:], nan=-jnp.inf), -jnp.inf)
    best = jnp.argmax(candidates)
    improves = candidates[best] > acc[0]
    return jnp.where(improves, best + 1, 0).astype(jnp.int32)


def queries(obs) -> jax.Array:
    """Queries local search spends on one observation: every presented neighbour."""
    return obs.action_mask[1:].sum().astype(jnp.int32)


def make_policy(env_params, config=None, seed: int = 0) -> Policy:
    """Local search querying the environment's benchmark."""
    del config, seed
    return Policy(name="local_search", act=act, params=env_params.oracle, queries=queries,
                  slots=SLOTS)


def agent() -> Agent:
    """The local-search agent."""
    return Agent(name="local_search", description="moves to the best presented neighbour",
                 queries="one query per presented neighbour per step (Cassimon et al. §4.1.2)",
                 make_policy=make_policy)
