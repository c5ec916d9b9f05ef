"""Jitted evaluation episodes of episodic policies over the incremental MDP (Cassimon et al. §4).

An episode runs ``episode_length`` steps in one ``lax.scan`` and freezes once it terminated;
episodes are vmapped and sharded over the local devices (:mod:`nasjax.sharding`).
"""

from __future__ import annotations

import dataclasses

import flax.struct
import jax
import jax.numpy as jnp

from nasjax import env, sharding
from nasjax.agents.base import Policy


@flax.struct.dataclass
class EpisodeStats:
    """Per-episode record (batch-shaped)."""

    initial: jax.Array  # float32: reported accuracy of the initial architecture
    final: jax.Array  # float32: reported accuracy of the final architecture
    best: jax.Array  # float32: reported accuracy of the visited one with the best validation
    initial_val: jax.Array  # float32: validation accuracy of the initial architecture
    final_val: jax.Array  # float32
    best_val: jax.Array  # float32
    steps: jax.Array  # int32: steps taken (the final "stay" included)
    queries: jax.Array  # int32: benchmark queries spent
    num_neighbours: jax.Array  # int32: all neighbours of the initial architecture
    trace_queries: jax.Array  # int32[L]: queries spent after each step (0 = step not taken)
    trace_best_val: jax.Array  # float32[L]: best validation accuracy seen after each step
    trace_best: jax.Array  # float32[L]: reported accuracy of that best architecture


def run_episode(policy: Policy, params: env.EnvParams, initial, key: jax.Array) -> EpisodeStats:
    """One episode of an episodic policy from ``initial``, ``params.episode_length`` steps at
    most.

    Queries: 1 for the initial architecture, plus ``policy.queries(obs)`` at every step taken
    (local search counts every presented neighbour; other agents spend 1 query an episode,
    Cassimon et al. §4.1.2). The scan carries only the state; the observation is rebuilt each
    step, so the parts a policy does not read cost nothing.
    """
    key_reset, key_scan = jax.random.split(key)
    _, start = env.reset(key_reset, params, initial)

    def body(carry, key):
        state, alive, best, best_val, steps, queries = carry
        key_act, key_step = jax.random.split(key)
        obs = env.observe(state, params)
        action = policy.act(policy.params, obs, key_act)
        spent = policy.queries(obs) if policy.queries is not None else jnp.int32(0)
        _, new_state, _, terminated, _, _ = env.step(key_step, state, action, params)
        state = jax.tree.map(lambda a, b: jnp.where(alive, a, b), new_state, state)
        better = alive & (new_state.acc > best_val)
        best = jnp.where(better, new_state.report_acc, best)
        best_val = jnp.where(better, new_state.acc, best_val)
        steps = steps + alive.astype(jnp.int32)
        queries = queries + jnp.where(alive, spent, 0)
        trace = (jnp.where(alive, queries, 0), best_val, best)
        return (state, alive & ~terminated, best, best_val, steps, queries), trace

    carry = (start, jnp.bool_(True), start.report_acc, start.acc, jnp.int32(0), jnp.int32(1))
    keys = jax.random.split(key_scan, params.episode_length)
    (final, _, best, best_val, steps, queries), trace = jax.lax.scan(body, carry, keys)
    return EpisodeStats(initial=start.report_acc, final=final.report_acc, best=best,
                        initial_val=start.acc, final_val=final.acc, best_val=best_val,
                        steps=steps, queries=queries, num_neighbours=start.num_neighbours,
                        trace_queries=trace[0], trace_best_val=trace[1], trace_best=trace[2])


def _episodes(batch, params: env.EnvParams, policy_params, policy: Policy) -> EpisodeStats:
    initial, keys = batch
    policy = dataclasses.replace(policy, params=policy_params)
    runner = policy.episode or run_episode
    return jax.vmap(lambda arch, k: runner(policy, params, arch, k))(initial, keys)


def run_episodes(policy: Policy, params: env.EnvParams, initial, key: jax.Array) -> EpisodeStats:
    """Episodes of ``policy`` from each initial architecture of ``Arch[E]``, vmapped, jitted
    and sharded over the local devices (parameters are arguments, not baked-in constants).

    Raises:
      ValueError when an initial architecture is invalid or not in the benchmark.
    """
    env.check_initial(params, initial)
    keys = jax.random.split(key, jax.tree.leaves(initial)[0].shape[0])
    static = dataclasses.replace(policy, params=None)
    return sharding.map_batch(_episodes, (initial, keys), params, policy.params, static=(static,))
