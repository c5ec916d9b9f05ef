"""Random walk over the incremental MDP (seed 000, section 3.2.3)."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from nasjax.env import Observation


def act(params, obs: Observation, key: jax.Array) -> jax.Array:
    """Uniform over the valid actions, "stay" (0) included. ``params`` is unused.

    Draws one integer ``r`` uniform below the number of valid actions and returns
    the ``r``-th valid action, so padding slots are never chosen.

    Args:
      params: unused (the policy has no parameters).
      obs: Observation of one environment (``action_mask: bool[N + 1]``).
      key: PRNG key.
    Returns:
      int32 action.
    """
    del params
    valid = obs.action_mask.sum()
    r = jax.random.randint(key, (), 0, valid)
    return jnp.argmax(jnp.cumsum(obs.action_mask) > r).astype(jnp.int32)
