"""Random walk over the incremental MDP (seed 000, section 3.2.3)."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from nasjax.env import Observation


def act(params, obs: Observation, key: jax.Array) -> jax.Array:
    """Uniform over the valid actions, "stay" (0) included. ``params`` is unused.

    Args:
      obs: Observation of one environment (``action_mask: bool[N + 1]``).
    Returns:
      int32 action.
    """
    del params
    logits = jnp.where(obs.action_mask, 0.0, jnp.finfo(jnp.float32).min)
    return jax.random.categorical(key, logits).astype(jnp.int32)
