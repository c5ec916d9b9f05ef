"""Random walk over the incremental MDP (Cassimon et al. §3.2.3)."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from nasjax.agents.base import Agent, Policy


def act(params, obs, key: jax.Array) -> jax.Array:
    """Uniform over the valid actions, "stay" (0) included. ``params`` is unused.

    Draws one integer ``r`` uniform below the number of valid actions and returns the
    ``r``-th valid action, so padding slots are never chosen.

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


def make_policy(env_params=None, config=None, seed: int = 0) -> Policy:
    """The random-walk policy (no parameters; an episode costs one query, §4.1.2)."""
    del env_params, config, seed
    return Policy(name="random_walk", act=act)


def agent() -> Agent:
    """The random-walk agent."""
    return Agent(name="random_walk", description="uniform over the presented neighbours and stay",
                 queries="one query per episode (Cassimon et al. §4.1.2)", make_policy=make_policy)
