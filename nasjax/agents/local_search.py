"""Local search over the incremental MDP (seed 000, section 3.2.3).

It queries every presented neighbour, moves to the one with the highest validation
accuracy, and stays (ending the episode) when none beats the current cell. Each
presented neighbour is one query (seed section 4.1.2).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from nasjax.benchmarks import base as bench_lib
from nasjax.env import Observation


def act(bench: bench_lib.Benchmark, obs: Observation, key: jax.Array) -> jax.Array:
    """The best presented neighbour by mean validation accuracy, or 0 when none improves.

    Ties go to the first such neighbour; a neighbour outside the benchmark never wins.

    Args:
      bench: the benchmark it queries (the policy's parameters).
      obs: Observation of one environment (``rows: int32[N + 1]``, current cell first).
      key: unused (the policy is deterministic).
    Returns:
      int32 action.
    """
    del key
    acc = bench_lib.query_index(bench, obs.rows).val_acc  # [N + 1]
    candidates = jnp.where(obs.action_mask[1:], jnp.nan_to_num(acc[1:], nan=-jnp.inf), -jnp.inf)
    best = jnp.argmax(candidates)
    improves = candidates[best] > acc[0]
    return jnp.where(improves, best + 1, 0).astype(jnp.int32)


def queries(obs: Observation) -> jax.Array:
    """Queries local search spends on one observation: every presented neighbour."""
    return obs.action_mask[1:].sum().astype(jnp.int32)
