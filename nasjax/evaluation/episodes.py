"""Jitted evaluation episodes of policies over the incremental MDP (seed 000, section 4).

A policy is ``act(params, obs, key) -> action``; an episode runs ``episode_length``
steps in one ``lax.scan`` and freezes once it is done; episodes are vmapped.
"""

from __future__ import annotations

from typing import Any, Callable

import flax.struct
import jax
import jax.numpy as jnp

from nasjax import env
from nasjax.spaces import nb101

Policy = Callable[[Any, env.Observation, jax.Array], jax.Array]
QueryCount = Callable[[env.Observation], jax.Array]


@flax.struct.dataclass
class EpisodeStats:
    """Per-episode record (batch-shaped)."""

    initial: jax.Array  # float32: reported accuracy of the initial cell
    final: jax.Array  # float32: reported accuracy of the final cell
    best: jax.Array  # float32: reported accuracy of the visited cell with the best validation
    initial_val: jax.Array  # float32: validation accuracy of the initial cell
    final_val: jax.Array  # float32
    best_val: jax.Array  # float32
    steps: jax.Array  # int32: steps taken (the final "stay" included)
    queries: jax.Array  # int32: benchmark queries spent
    num_neighbours: jax.Array  # int32: all neighbours of the initial cell
    trace_queries: jax.Array  # int32[L]: queries spent after each step (0 = step not taken)
    trace_best_val: jax.Array  # float32[L]: best validation accuracy seen after each step
    trace_best: jax.Array  # float32[L]: reported accuracy of that best cell


def run_episode(policy: Policy, policy_params, params: env.EnvParams, initial: nb101.Cell,
                key: jax.Array, query_count: QueryCount | None = None) -> EpisodeStats:
    """One episode from ``initial`` (a valid cell), ``params.episode_length`` steps at most.

    Queries: 1 for the initial cell, plus ``query_count(obs)`` at every step taken
    (local search counts every presented neighbour; other agents spend 1 query an
    episode, the seed's convention). The scan carries only the state; the
    observation is rebuilt each step, so unused parts of it cost nothing.
    """
    key_reset, key_scan = jax.random.split(key)
    _, start = env.reset(key_reset, params, initial)

    def body(carry, key):
        state, alive, best, best_val, steps, queries = carry
        key_act, key_step = jax.random.split(key)
        obs = env.observe(state, params)
        action = policy(policy_params, obs, key_act)
        spent = query_count(obs) if query_count is not None else jnp.int32(0)
        _, new_state, _, done, _ = env.step(key_step, state, action, params)
        state = jax.tree.map(lambda a, b: jnp.where(alive, a, b), new_state, state)
        better = alive & (new_state.acc > best_val)
        best = jnp.where(better, new_state.report_acc, best)
        best_val = jnp.where(better, new_state.acc, best_val)
        steps = steps + alive.astype(jnp.int32)
        queries = queries + jnp.where(alive, spent, 0)
        trace = (jnp.where(alive, queries, 0), best_val, best)
        return (state, alive & ~done, best, best_val, steps, queries), trace

    carry = (start, jnp.bool_(True), start.report_acc, start.acc, jnp.int32(0), jnp.int32(1))
    keys = jax.random.split(key_scan, params.episode_length)
    (final, _, best, best_val, steps, queries), trace = jax.lax.scan(body, carry, keys)
    return EpisodeStats(initial=start.report_acc, final=final.report_acc, best=best,
                        initial_val=start.acc, final_val=final.acc, best_val=best_val,
                        steps=steps, queries=queries, num_neighbours=start.num_neighbours,
                        trace_queries=trace[0], trace_best_val=trace[1], trace_best=trace[2])


def random_search_episode(params: env.EnvParams, initial: nb101.Cell, key: jax.Array) -> EpisodeStats:
    """The seed's random-search "episode": from ``initial``, jump to one sampled cell (1 query)."""
    key_reset, key_sample = jax.random.split(key)
    _, state = env.reset(key_reset, params, initial)
    _, final = env.reset(key_sample, params)
    better = final.acc > state.acc
    best = jnp.where(better, final.report_acc, state.report_acc)
    best_val = jnp.maximum(final.acc, state.acc)
    length = params.episode_length
    first = jnp.arange(length) == 0
    return EpisodeStats(
        initial=state.report_acc, final=final.report_acc, best=best,
        initial_val=state.acc, final_val=final.acc, best_val=best_val,
        steps=jnp.int32(1), queries=jnp.int32(1), num_neighbours=state.num_neighbours,
        trace_queries=jnp.where(first, 1, 0).astype(jnp.int32),
        trace_best_val=jnp.full(length, best_val), trace_best=jnp.full(length, best))


AGENTS = ("random_walk", "local_search", "random_search")


def _episode(agent: str, params: env.EnvParams, cell: nb101.Cell, key: jax.Array) -> EpisodeStats:
    from nasjax.agents import local_search, random_walk

    if agent == "random_walk":
        return run_episode(random_walk.act, None, params, cell, key)
    if agent == "local_search":
        return run_episode(local_search.act, params.bench, params, cell, key, local_search.queries)
    return random_search_episode(params, cell, key)


@jax.jit(static_argnums=0)
def _episodes(agent: str, params: env.EnvParams, cells: nb101.Cell, key: jax.Array) -> EpisodeStats:
    keys = jax.random.split(key, cells.shape[0])
    return jax.vmap(lambda cell, k: _episode(agent, params, cell, k))(cells, keys)


def run_episodes(agent: str, params: env.EnvParams, cells: nb101.Cell, key: jax.Array) -> EpisodeStats:
    """Episodes of ``agent`` (``random_walk``, ``local_search``, ``random_search``) from each
    initial cell of ``Cell[E]``, one jitted vmap (params are traced, not baked in)."""
    if agent not in AGENTS:
        raise ValueError(f"unknown agent {agent!r}; choose one of {', '.join(AGENTS)}")
    return _episodes(agent, params, cells, key)
