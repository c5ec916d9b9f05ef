"""Jitted evaluation episodes of episodic policies over the incremental MDP (Cassimon et al. §4).

:func:`run_episode` is one episode: ``episode_length`` steps in one ``lax.scan``, frozen once it
terminated. :func:`run_episodes` gives the same statistics for a batch of episodes without
the frozen steps: the episodes run on fewer slots, and a slot whose episode ended starts the
next unstarted one at the following step (:func:`run_refilled`). The batch is sharded over the
local devices (:mod:`nasjax.sharding`).

Queries are counted by one rule for every agent (Cassimon et al. §4.1.2: "1 episode is
considered to be 1 query", local search counts "every neighbour at every timestep"), stated in
:func:`start_queries` and :func:`step_queries`: an initial architecture is free; a step of an
agent that counts per step (local search) costs the neighbours it presents, the final "stay"
included; any other episode costs one query, charged before its first step. An episode's
``queries`` is ``start_queries + sum of step_queries``; on NAS-Bench-301, where all N = 50
neighbours are always presented, a local-search episode spends exactly ``50 x steps``.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from nasjax import env, sharding
from nasjax.agents.base import EpisodeStats, Policy

# Episodes per slot of :func:`run_refilled`: E episodes run on ceil(E / 4) slots. More episodes
# per slot waste fewer steps at the end (the slots run out of episodes at different steps);
# fewer keep the vectors wide. A policy may ask for fewer slots (``Policy.slots``).
EPISODES_PER_SLOT = 4


def start_queries(per_step: bool) -> int:
    """Queries an episode has spent before its first step (Cassimon et al. §4.1.2).

    None for an agent that counts its queries per step (local search): its initial architecture
    is free, as every agent's is. One for any other agent: its one query an episode, charged at
    once so that every step of its trace shows it.
    """
    return 0 if per_step else 1


def step_queries(policy: Policy, obs) -> jax.Array:
    """Queries one step spends: ``policy.queries(obs)`` (local search: every presented
    neighbour) for an agent that counts per step, none for any other (its episode's query is in
    :func:`start_queries`)."""
    return policy.queries(obs) if policy.queries is not None else jnp.int32(0)


def run_episode(policy: Policy, params: env.EnvParams, initial, key: jax.Array) -> EpisodeStats:
    """One episode of an episodic policy from ``initial``, ``params.episode_length`` steps at
    most.

    Queries: :func:`start_queries`, plus :func:`step_queries` at every step taken. The scan
    carries only the state; the observation is rebuilt each step, so the parts a policy does not
    read cost nothing.
    """
    key_reset, key_scan = jax.random.split(key)
    _, start = env.reset(key_reset, params, initial)

    def body(carry, key):
        state, alive, best, best_val, steps, queries = carry
        key_act, key_step = jax.random.split(key)
        obs = env.observe(state, params)
        action = policy.act(policy.params, obs, key_act)
        spent = step_queries(policy, obs)
        _, new_state, _, terminated, _, _ = env.step(key_step, state, action, params)
        state = jax.tree.map(lambda a, b: jnp.where(alive, a, b), new_state, state)
        better = alive & (new_state.acc > best_val)
        best = jnp.where(better, new_state.report_acc, best)
        best_val = jnp.where(better, new_state.acc, best_val)
        steps = steps + alive.astype(jnp.int32)
        queries = queries + jnp.where(alive, spent, 0)
        trace = (jnp.where(alive, queries, 0), best_val, best)
        return (state, alive & ~terminated, best, best_val, steps, queries), trace

    queries = jnp.int32(start_queries(policy.queries is not None))
    carry = (start, jnp.bool_(True), start.report_acc, start.acc, jnp.int32(0), queries)
    keys = jax.random.split(key_scan, params.episode_length)
    (final, _, best, best_val, steps, queries), trace = jax.lax.scan(body, carry, keys)
    return EpisodeStats(initial=start.report_acc, final=final.report_acc, best=best,
                        initial_val=start.acc, final_val=final.acc, best_val=best_val,
                        steps=steps, queries=queries, num_neighbours=start.num_neighbours,
                        trace_queries=trace[0], trace_best_val=trace[1], trace_best=trace[2])


def run_refilled(policy: Policy, params: env.EnvParams, initial, keys: jax.Array) -> EpisodeStats:
    """Episodes from ``initial: Arch[E]`` with keys ``key[E]``: the statistics of
    ``vmap(run_episode)`` (the same keys give the same numbers), at the cost of the steps
    actually taken rather than ``E x episode_length``.

    ``ceil(E / EPISODES_PER_SLOT)`` slots (at most ``policy.slots``) step together in one
    ``lax.while_loop``; when a slot's episode terminates (or reaches ``episode_length``), its
    statistics are written out and the slot starts the next unstarted episode at the next step.
    The loop ends when every episode has ended. Episode ``e`` uses its own keys exactly as
    :func:`run_episode` does, so the schedule does not change any episode.
    """
    num, length = keys.shape[0], params.episode_length
    slots = min(-(-num // EPISODES_PER_SLOT), policy.slots or num)
    key_reset, key_scan = jnp.moveaxis(jax.vmap(jax.random.split)(keys), 1, 0)
    _, starts = jax.vmap(env.reset, in_axes=(0, None, 0))(key_reset, params, initial)
    step_keys = jax.vmap(lambda k: jax.random.split(k, length))(key_scan)  # key[E, L]
    observe = jax.vmap(env.observe, in_axes=(0, None))
    act = jax.vmap(policy.act, in_axes=(None, 0, 0))
    step = jax.vmap(env.step, in_axes=(0, 0, 0, None))
    per_step = policy.queries is not None

    def started(episode):  # the per-slot carry of episodes just started (E: no episode left)
        row = jnp.minimum(episode, num - 1)
        state = jax.tree.map(lambda x: x[row], starts)
        zeros = jnp.zeros_like(episode)
        return state, state.report_acc, state.acc, zeros, zeros + start_queries(per_step)

    # Outputs have a spare row E where slots without an episode write.
    out = {name: jnp.zeros((num + 1,), dtype) for name, dtype in (
        ("final", jnp.float32), ("final_val", jnp.float32), ("best", jnp.float32),
        ("best_val", jnp.float32), ("steps", jnp.int32), ("queries", jnp.int32))}
    out |= {name: jnp.zeros((num + 1, length), dtype) for name, dtype in (
        ("trace_queries", jnp.int32), ("trace_best_val", jnp.float32),
        ("trace_best", jnp.float32))}
    episode = jnp.minimum(jnp.arange(slots, dtype=jnp.int32), num)
    carry = (episode, jnp.zeros_like(episode), *started(episode), jnp.int32(slots), out)

    def running(carry):
        return (carry[0] < num).any()

    def body(carry):
        episode, t, state, best, best_val, steps, queries, next_episode, out = carry
        key_act, key_step = jnp.moveaxis(
            jax.vmap(jax.random.split)(step_keys[jnp.minimum(episode, num - 1), t]), 1, 0)
        obs = observe(state, params)
        action = act(policy.params, obs, key_act)
        spent = jax.vmap(lambda o: step_queries(policy, o))(obs)
        _, state, _, terminated, _, _ = step(key_step, state, action, params)
        better = state.acc > best_val
        best = jnp.where(better, state.report_acc, best)
        best_val = jnp.where(better, state.acc, best_val)
        steps, queries = steps + 1, queries + spent
        row = jnp.minimum(episode, num)
        out = out | {"trace_queries": out["trace_queries"].at[row, t].set(queries),
                     "trace_best_val": out["trace_best_val"].at[row, t].set(best_val),
                     "trace_best": out["trace_best"].at[row, t].set(best)}
        ended = (episode < num) & (terminated | (t + 1 == length))
        row = jnp.where(ended, episode, num)
        out = out | {name: out[name].at[row].set(value) for name, value in (
            ("final", state.report_acc), ("final_val", state.acc), ("best", best),
            ("best_val", best_val), ("steps", steps), ("queries", queries))}
        # Ended slots take the next unstarted episodes, in slot order.
        following = next_episode + jnp.cumsum(ended, dtype=jnp.int32) - 1
        episode = jnp.where(ended, jnp.minimum(following, num), episode)
        fresh = started(episode)
        state, best, best_val, steps, queries = jax.tree.map(
            lambda new, old: jnp.where(ended.reshape(ended.shape + (1,) * (new.ndim - 1)),
                                       new, old),
            fresh, (state, best, best_val, steps, queries))
        t = jnp.where(ended, 0, t + 1)
        return (episode, t, state, best, best_val, steps, queries,
                next_episode + ended.sum(dtype=jnp.int32), out)

    out = jax.lax.while_loop(running, body, carry)[-1]
    out = {name: value[:num] for name, value in out.items()}
    # After an episode ended its trace holds: no queries, the final best values.
    after = jnp.arange(length) >= out["steps"][:, None]
    return EpisodeStats(
        initial=starts.report_acc, initial_val=starts.acc, num_neighbours=starts.num_neighbours,
        final=out["final"], final_val=out["final_val"], best=out["best"],
        best_val=out["best_val"], steps=out["steps"], queries=out["queries"],
        trace_queries=jnp.where(after, 0, out["trace_queries"]),
        trace_best_val=jnp.where(after, out["best_val"][:, None], out["trace_best_val"]),
        trace_best=jnp.where(after, out["best"][:, None], out["trace_best"]))


def _episodes(batch, params: env.EnvParams, policy_params, policy: Policy) -> EpisodeStats:
    initial, keys = batch
    policy = dataclasses.replace(policy, params=policy_params)
    if policy.episode is not None:
        return jax.vmap(lambda arch, k: policy.episode(policy, params, arch, k))(initial, keys)
    return run_refilled(policy, params, initial, keys)


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
