"""Local search (Cassimon et al. §3.2.3) on a hand-built world with a known local optimum."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nasjax import env
from nasjax.agents import local_search
from nasjax.evaluation import episodes
from tests.conftest import SMALL_WORLD, TEST_GAP, world_params

reset = jax.jit(env.reset)


def _observation(world, name):
    params = world_params(world)
    obs, _ = reset(jax.random.key(0), params, world["cells"][name])
    return params, obs


def test_moves_to_the_best_presented_neighbour(small_world):
    params, obs = _observation(small_world, "start")
    action = local_search.act(params.oracle, obs, jax.random.key(0))
    assert int(action) == 1 + SMALL_WORLD["start"][2].index("peak")
    assert int(local_search.queries(obs)) == 4


def test_stays_when_no_neighbour_improves(small_world):
    params, obs = _observation(small_world, "peak")
    assert int(local_search.act(params.oracle, obs, jax.random.key(0))) == 0
    assert int(local_search.queries(obs)) == 3


def test_ignores_padding_and_unknown_cells(small_world):
    params, obs = _observation(small_world, "b")  # neighbours: start (0.5), peak (0.9)
    obs = obs.replace(nodes=obs.nodes.at[2].set(-1))  # "peak" now outside the benchmark
    assert int(local_search.act(params.oracle, obs, jax.random.key(0))) == 0


@pytest.mark.slow  # ~7 CPU-s of its own: out of the fast lane
def test_episode_stops_at_the_local_optimum_and_counts_every_query(small_world):
    params = world_params(small_world)
    cells = jax.tree.map(lambda x: jnp.stack([jnp.asarray(x)] * 3), small_world["cells"]["start"])
    out = episodes.run_episodes(local_search.make_policy(params), params, cells,
                                jax.random.key(0))
    np.testing.assert_array_equal(out.steps, 2)  # move to "peak", then stay
    np.testing.assert_array_equal(out.queries, 4 + 3)  # start's 4, peak's 3; start is free
    np.testing.assert_allclose(out.final, 0.90 - TEST_GAP, rtol=1e-6)
    np.testing.assert_allclose(out.best_val, 0.90, rtol=1e-6)
    np.testing.assert_allclose(out.initial, 0.50 - TEST_GAP, rtol=1e-6)
    np.testing.assert_array_equal(out.trace_queries[0], [4, 7] + [0] * 30)


@pytest.mark.slow  # ~13 CPU-s of its own: out of the fast lane
def test_with_fewer_slots_it_queries_what_it_is_shown(small_world):
    params = world_params(small_world, max_neighbours=2)
    cells = jax.tree.map(lambda x: jnp.stack([jnp.asarray(x)] * 64), small_world["cells"]["start"])
    out = episodes.run_episodes(local_search.make_policy(params), params, cells,
                                jax.random.key(1))
    # Every cell of the world has at least 2 neighbours: 2 queries at every step.
    np.testing.assert_array_equal(out.queries, 2 * np.asarray(out.steps))
    # never worse (val = test + gap)
    assert (np.asarray(out.final) >= np.asarray(out.initial)).all()
    assert len(set(np.asarray(out.steps).tolist())) > 1  # the shown subsets differ
