"""Random search: every query a fresh architecture.

Two agents, because the papers' random searches differ on NAS-Bench-101:

- ``random_search`` (Cassimon et al. §3.2.3) proposes samples of the space's sampler (for
  NAS-Bench-101 the vertex-count-uniform sampler: each vertex count 1/6 of the time). In the
  incremental-MDP evaluation (§4) an "episode" jumps from its initial architecture to one
  sampled architecture: one query.
- ``random_search_uniform`` is NAS-Bench-101's own random search (``random_spec`` of the
  official code, the baseline of ReMAADE §8 Tables 3-5): uniform over valid strings of the
  space's encoding (NAS-Bench-101: every op and edge uniform, redrawn until the spec is
  valid; vertex counts then about 10/20/27/30/12/0.3%).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from nasjax import env
from nasjax.agents import duplicates as duplicates_lib
from nasjax.agents import regularized_evolution
from nasjax.agents.base import Agent, EpisodeStats, Policy, Searcher
from nasjax.agents.regularized_evolution import CANDIDATES
from nasjax.spaces import base as space_lib


def make_searcher(space, config=None, batch: int = 1, *, duplicates: str = "query",
                  budget: int = 0) -> Searcher:
    """Random search with the space's sampler; no state but a query count (and, with
    ``duplicates="resample"``, the hashes queried: :mod:`nasjax.agents.duplicates`)."""
    del config
    if duplicates == "resample":
        return _resampling(space, "random_search", budget, batch,
                           lambda key: space.encode(space.sample(key, (CANDIDATES,))))
    duplicates_lib.check(duplicates, budget)

    def init(key):
        return jnp.zeros((), jnp.int32)

    def propose(state, key):
        return space.sample(key, (batch,))

    def update(state, archs, metrics):
        return state + batch

    return Searcher(name="random_search", batch=batch, init=init, propose=propose, update=update)


def make_uniform_searcher(space, config=None, batch: int = 1, *, duplicates: str = "query",
                          budget: int = 0) -> Searcher:
    """Random search over uniform valid strings (the first population of regularized
    evolution, as the official NAS-Bench-101 code draws it); ``duplicates`` as
    :func:`make_searcher`'s."""
    del config
    if duplicates == "resample":
        return _resampling(space, "random_search_uniform", budget, batch,
                           lambda key: space_lib.uniform_strings(space, key, (CANDIDATES,)))
    duplicates_lib.check(duplicates, budget)
    draw = jax.vmap(lambda key: regularized_evolution.uniform_valid_string(space, key))

    def init(key):
        return jnp.zeros((), jnp.int32)

    def propose(state, key):
        return space.decode(draw(jax.random.split(key, batch)))[0]

    def update(state, archs, metrics):
        return state + batch

    return Searcher(name="random_search_uniform", batch=batch, init=init, propose=propose,
                    update=update)


def _resampling(space, name: str, budget: int, batch: int, candidates) -> Searcher:
    """Random search whose every query is a new architecture (``duplicates="resample"``).

    Args:
      space: the search space.
      name: the searcher's name.
      budget: queries of a trial (the memory's capacity, rounded up to batches).
      batch: architectures per step.
      candidates: ``key -> int32[CANDIDATES, L]`` iid strings of the sampler (valid or not).
    Returns:
      A Searcher whose state is a :class:`~nasjax.agents.duplicates.Memory`; a proposal is the
      first candidate of the stream that is valid and neither queried nor earlier in its batch
      (the fallback after ``MAX_ROUNDS`` rounds, the space's sample, may repeat one).
    """
    duplicates_lib.check("resample", budget)

    def accept(memory):
        def accepted(strings):
            archs, valid = space.decode(strings)
            return valid & ~duplicates_lib.contains(memory, space.hash(archs))
        return accepted

    def init(key):
        del key
        return duplicates_lib.empty(space, -(-budget // batch) * batch)

    def propose(memory, key):
        def one(memory, key):
            key_loop, key_fallback = jax.random.split(key)
            string = regularized_evolution.first_accepted(
                candidates, accept(memory), key_loop, space.encode(space.sample(key_fallback, ())))
            arch, _ = space.decode(string[None])
            return duplicates_lib.add(memory, space.hash(arch)), string

        _, strings = jax.lax.scan(one, memory, jax.random.split(key, batch))
        return space.decode(strings)[0]

    def update(memory, archs, metrics):
        del metrics
        return duplicates_lib.add(memory, space.hash(archs))

    return Searcher(name=name, batch=batch, init=init, propose=propose, update=update)


def episode(policy: Policy, params: env.EnvParams, initial, key: jax.Array):
    """The random-search "episode": from ``initial``, jump to one sampled architecture
    (1 query)."""
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


def _stay(params, obs, key: jax.Array) -> jax.Array:
    """The action random search would take in the MDP: none (it does not step)."""
    del params, obs, key
    return jnp.int32(0)


def make_policy(env_params=None, config=None, seed: int = 0) -> Policy:
    """Random search as an evaluation "policy": it jumps instead of stepping."""
    del env_params, config, seed
    return Policy(name="random_search", act=_stay, episode=episode)


def agent() -> Agent:
    """The random-search agent (searcher and evaluation episodes)."""
    return Agent(name="random_search", description="samples of the space's sampler",
                 queries="one query per sampled architecture", make_policy=make_policy,
                 make_searcher=make_searcher)


def uniform_agent() -> Agent:
    """NAS-Bench-101's random search (uniform valid strings), a searcher only."""
    return Agent(name="random_search_uniform", description="uniform valid strings",
                 queries="one query per sampled architecture",
                 make_searcher=make_uniform_searcher)
