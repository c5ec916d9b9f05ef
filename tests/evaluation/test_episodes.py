"""Jitted evaluation episodes (Cassimon et al. §4) on the hand-built world."""

from __future__ import annotations

import dataclasses

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nasjax import env, registry, spaces
from nasjax.agents import local_search, random_search, random_walk
from nasjax.agents.apex import network
from nasjax.agents.apex import policy as apex_policy
from nasjax.agents.base import EpisodeStats, Policy
from nasjax.benchmarks import base as benchmarks_base
from nasjax.evaluation import episodes, query_curves
from tests.conftest import TEST_GAP, env_params, world_params


@pytest.fixture(scope="module")
def params(small_world):
    return world_params(small_world, episode_length=6)


def _starts(world, count):
    return jax.tree.map(lambda x: jnp.stack([jnp.asarray(x)] * count), world["cells"]["start"])


WALKS = 256  # episodes of the random walks on ``params``: one compiled program for the tests


@pytest.mark.slow  # ~14 CPU-s of its own: out of the fast lane
def test_random_walk_episodes(params, small_world):
    out = episodes.run_episodes(random_walk.make_policy(), params, _starts(small_world, WALKS),
                                jax.random.key(0))
    steps = np.asarray(out.steps)
    assert ((steps >= 1) & (steps <= 6)).all() and len(set(steps.tolist())) > 3
    np.testing.assert_array_equal(out.queries, 1)  # one query an episode (§4.1.2)
    np.testing.assert_array_equal(out.num_neighbours, 4)
    np.testing.assert_allclose(out.initial, 0.50 - TEST_GAP, rtol=1e-6)
    assert (np.asarray(out.best_val) >= np.asarray(out.final_val)).all()
    assert (np.asarray(out.best_val) >= 0.5).all()
    np.testing.assert_allclose(np.asarray(out.best), np.asarray(out.best_val) - TEST_GAP, atol=1e-6)
    # Traces stop after the episode ends.
    taken = np.asarray(out.trace_queries) > 0
    np.testing.assert_array_equal(taken.sum(1), steps)


REFILL_EPISODES = 64  # the most episodes a schedule below runs; the others run the first ones


@pytest.fixture(scope="module")
def one_by_one(params, small_world):
    """Per agent, the one-episode scans of the first ``REFILL_EPISODES`` episodes, with their
    keys: one program per agent, whose first rows every schedule below is checked against."""
    keys = jax.random.split(jax.random.key(3), REFILL_EPISODES)
    scans = {}

    def expected(agent: str) -> EpisodeStats:
        if agent not in scans:
            policy = registry.make("agent", agent).make_policy(params, None, 0)
            scan = jax.jit(jax.vmap(lambda a, k: episodes.run_episode(policy, params, a, k)))
            scans[agent] = scan(_starts(small_world, REFILL_EPISODES), keys)
        return scans[agent]

    return keys, expected


# Each case compiles its own program, so the schedules are chosen rather than crossed: one
# episode in few slots, fewer episodes than the policy's own slots, and many refills of few slots.
@pytest.mark.slow  # ~56 CPU-s of its own: out of the fast lane
@pytest.mark.parametrize("agent", ["random_walk", "local_search"])
@pytest.mark.parametrize("count, slots", [(1, 3), (5, None), (REFILL_EPISODES, 3)])
def test_refilled_slots_give_each_episode_its_own_numbers(params, small_world, one_by_one, agent,
                                                          count, slots):
    # The batch runner starts a new episode in a slot as soon as the slot's episode ends; every
    # statistic must equal the one-episode scan's for the same key, whatever the schedule and
    # however few slots the policy asks for.
    policy = registry.make("agent", agent).make_policy(params, None, 0)
    policy = dataclasses.replace(policy, slots=slots or policy.slots)
    all_keys, scans = one_by_one
    starts, keys = _starts(small_world, count), all_keys[:count]
    refilled = jax.jit(lambda a, k: episodes.run_refilled(policy, params, a, k))
    expected = jax.tree.map(lambda x: x[:count], scans(agent))
    got = refilled(starts, keys)
    if agent == "random_walk" and count > 1:  # episodes of different lengths
        assert len(set(np.asarray(expected.steps).tolist())) > 1
    chex.assert_trees_all_equal(got, expected)


@pytest.mark.slow  # an episode program of its own (N = 2; ~10 CPU-s)
def test_local_search_pays_for_the_neighbours_it_presents_not_its_initial_cell(small_world):
    # Every cell of the world has at least 2 neighbours: with N = 2 each step presents 2.
    params = world_params(small_world, max_neighbours=2)
    out = episodes.run_episodes(local_search.make_policy(params), params,
                                _starts(small_world, 64), jax.random.key(1))
    steps = np.asarray(out.steps)
    np.testing.assert_array_equal(out.queries, 2 * steps)
    taken = np.arange(params.episode_length) < steps[:, None]
    expected_trace = np.where(taken, 2 * (1 + np.arange(params.episode_length)), 0)
    np.testing.assert_array_equal(out.trace_queries, expected_trace)


@pytest.mark.slow  # an NB301 episode program of its own (~10 CPU-s)
def test_local_search_on_nb301_spends_50_queries_a_step():
    # NAS-Bench-301 cells have thousands of neighbours, so N = 50 always binds (Cassimon et al.
    # §4.2): a table of one genotype (the worst) and all its neighbours; local search moves to
    # the best of the 50 it is shown, then stays (the neighbours there are unknown).
    space = spaces.get("nb301")
    start = space.sample(jax.random.key(0), (1,))
    count = int(space.num_neighbours(jax.tree.map(lambda x: x[0], start)))
    around, _ = space.neighbours(jax.random.key(1), jax.tree.map(lambda x: x[0], start), count)
    archs = jax.tree.map(lambda a, b: jnp.concatenate([a, b]), start, around)
    bench = benchmarks_base.from_function(archs, np.linspace(0.5, 0.9, count + 1), space="nb301",
                                          name="hand-built nb301")
    params = env_params(space, bench)
    assert params.max_neighbours == 50
    out = episodes.run_episodes(local_search.make_policy(params), params,
                                jax.tree.map(lambda x: jnp.repeat(x, 4, 0), start),
                                jax.random.key(0))
    np.testing.assert_array_equal(out.steps, 2)
    np.testing.assert_array_equal(out.queries, 50 * np.asarray(out.steps))
    np.testing.assert_array_equal(np.asarray(out.trace_queries)[:, :3], [[50, 100, 0]] * 4)


@pytest.mark.slow  # an Ape-X episode program of its own (~11 CPU-s)
def test_an_agent_without_per_step_queries_pays_one_an_episode(params, small_world):
    # Random walk and Ape-X (any policy without per-step queries): 1 query an episode, shown at
    # every step taken; their initial architectures are free too (Cassimon et al. §4.1.2).
    net = network.QNetwork(latent_dim=16, num_heads=2, num_layers=1)
    obs, _ = jax.jit(env.reset)(jax.random.key(0), params)  # compiled, not run op by op
    apex = Policy(name="apex", act=apex_policy.make_act(net),
                  params=jax.jit(net.init)(jax.random.key(1), obs.tokens, obs.action_mask))
    for policy in (random_walk.make_policy(), apex):
        out = episodes.run_episodes(policy, params, _starts(small_world, WALKS),
                                    jax.random.key(2))
        np.testing.assert_array_equal(out.queries, 1)
        taken = np.arange(params.episode_length) < np.asarray(out.steps)[:, None]
        np.testing.assert_array_equal(out.trace_queries, taken.astype(np.int32))
    assert (episodes.start_queries(per_step=False), episodes.start_queries(per_step=True)) == (1, 0)


@pytest.mark.slow  # ~7 CPU-s of its own: out of the fast lane
def test_random_search_is_one_sampled_cell(params, small_world):
    out = episodes.run_episodes(random_search.make_policy(), params, _starts(small_world, 8),
                                jax.random.key(0))
    np.testing.assert_array_equal(out.steps, 1)
    np.testing.assert_array_equal(out.queries, 1)
    # The sampled cell is usually outside the six-cell benchmark (NaN, never "better").
    final_val = np.asarray(out.final_val)
    better = np.isfinite(final_val) & (final_val > 0.5)
    np.testing.assert_allclose(out.best, np.where(better, out.final, 0.50 - TEST_GAP), rtol=1e-6)
    np.testing.assert_allclose(out.initial, 0.50 - TEST_GAP, rtol=1e-6)


def test_unknown_agent_is_named():
    with pytest.raises(ValueError, match="unknown agent 'greedy'"):
        registry.make("agent", "greedy")


def test_an_invalid_initial_architecture_is_refused(params, small_world):
    starts = _starts(small_world, 3)
    cyclic = starts.replace(adj=starts.adj.at[1, 2, 1].set(True))  # 1 -> 2 -> 1
    with pytest.raises(ValueError, match="1 of 3 initial architectures are invalid.*index 1"):
        episodes.run_episodes(random_walk.make_policy(), params, cyclic, jax.random.key(0))


@pytest.mark.slow  # ~5 CPU-s of its own: out of the fast lane
def test_episodes_are_traced_once(params, small_world):
    policy = random_walk.make_policy()
    run = jax.jit(chex.assert_max_traces(
        lambda p, cell, key: episodes.run_episode(policy, p, cell, key), n=1))
    for seed in range(3):
        run(params, small_world["cells"]["start"], jax.random.key(seed))


@pytest.mark.slow  # ~9 CPU-s of its own: out of the fast lane
def test_best_vs_queries_curves_of_local_search(small_world):
    params = world_params(small_world)
    out = episodes.run_episodes(local_search.make_policy(params), params,
                                _starts(small_world, 4), jax.random.key(0))
    stream = jax.tree.map(np.asarray, out)
    curves = query_curves.agent_curves([stream], per_step=True, max_queries=14)
    # Episodes of 4 + 3 queries (the initial "start" is free): 2 per trial. The best is "start"
    # until query 4, where its 4 neighbours reveal "peak".
    assert curves.shape == (2, 14)
    expected = np.array([0.5] * 3 + [0.9] * 11) - TEST_GAP
    np.testing.assert_allclose(curves, np.stack([expected] * 2), rtol=1e-6)


@pytest.mark.slow  # ~7 CPU-s of its own: out of the fast lane
def test_a_stream_shorter_than_one_trial_gives_no_curve(small_world):
    params = world_params(small_world)
    out = episodes.run_episodes(random_walk.make_policy(), params, _starts(small_world, 4),
                                jax.random.key(0))
    stream = jax.tree.map(np.asarray, out)  # 4 episodes of 1 query: no trial of 16 queries
    assert query_curves.agent_curves([stream], per_step=False, max_queries=16).shape == (0, 16)


@pytest.mark.parametrize("slots", [0, -2, 1.5])
def test_a_policy_asks_for_a_positive_number_of_slots(slots):
    with pytest.raises(ValueError, match="slots must be a positive int"):
        dataclasses.replace(random_walk.make_policy(), slots=slots)
