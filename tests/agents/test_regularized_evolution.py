"""Regularized evolution (Real et al. 2019) over the NAS-Bench-101 string encoding."""

from __future__ import annotations

import functools

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from configs import agents as agent_configs
from nasjax import spaces
from nasjax.agents import base, random_search
from nasjax.agents import regularized_evolution as re_lib
from nasjax.benchmarks import base as bench_lib
from nasjax.spaces import nb101
from nasjax.spaces import nb101_string as strings_lib

SPACE = spaces.get("nb101")


@functools.partial(jax.jit, static_argnums=1)
def _sampled_strings(key: jax.Array, count: int) -> jax.Array:
    """int32[count, 26]: the strings of ``count`` sampled cells (one program: with the helper
    below, the two mutation tests took 35.6 instead of 39.5 CPU-s op by op, half-speed day)."""
    return strings_lib.encode(nb101.sample(key, (count,)))


@jax.jit
def _valid_and_hashes(strings: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``(bool[B], uint32[B, 2])``: whether strings ``int32[B, 26]`` decode to valid cells, and
    the hashes of those cells."""
    cells, valid = strings_lib.decode(strings)
    return valid, nb101.hash_cells(cells)


def metrics(val_acc: float) -> bench_lib.Metrics:
    """Metrics of one queried cell (batch 1)."""
    one = jnp.ones((1,), jnp.float32)
    return bench_lib.Metrics(valid=jnp.ones((1,), bool), val_acc=one * val_acc, test_acc=one,
                             train_seconds=one, params=one)


def test_tournament_picks_the_best_of_the_sample():
    fitness = jnp.asarray([0.1, 0.9, 0.5, 0.7, -jnp.inf])
    # T = P: always the global best.
    for seed in range(5):
        assert int(re_lib.tournament(jax.random.key(seed), fitness, 5)) == 1
    # T = 2: the winner is the better of two distinct members, so the worst never wins, and
    # each member wins with probability (number of members it beats) / C(5, 2).
    keys = jax.random.split(jax.random.key(0), 20_000)
    wins = np.bincount(jax.vmap(lambda k: re_lib.tournament(k, fitness, 2))(keys), minlength=5)
    expected = np.asarray([1, 4, 2, 3, 0]) / 10  # member 0 beats only member 4, etc.
    np.testing.assert_allclose(wins / wins.sum(), expected, atol=0.015)


@pytest.mark.slow  # ~7 CPU-s of its own: out of the fast lane
def test_ageing_removes_the_oldest_member():
    searcher = re_lib.make_regularized_evolution(SPACE, population_size=3, tournament_size=2)
    update = jax.jit(chex.assert_max_traces(searcher.update, n=1))
    state = jax.jit(searcher.init)(jax.random.key(0))
    members = []
    for step, acc in enumerate([0.95, 0.5, 0.6, 0.7, 0.8]):
        members.append(np.asarray(state.pending))
        cell = searcher.propose(state, jax.random.key(step))
        assert bool(nb101.is_valid(cell).all())
        state = update(state, cell, metrics(acc))
    # Five members were born into three slots: the first two (the best one included!) died.
    assert int(state.count) == 5
    np.testing.assert_array_equal(np.sort(state.fitness), np.float32([0.6, 0.7, 0.8]))
    alive = {tuple(row) for row in np.asarray(state.population)}
    assert alive == {tuple(m) for m in members[2:]}


@pytest.mark.slow  # ~11 CPU-s of its own: out of the fast lane
def test_mutations_with_require_change_are_valid_and_differ_from_the_parent():
    parents = _sampled_strings(jax.random.key(1), 64)
    direct = jnp.zeros(26, jnp.int32).at[strings_lib.NUM_OP_SLOTS + 5].set(1)  # input -> output
    parents = jnp.concatenate([parents, direct[None]])
    keys = jax.random.split(jax.random.key(2), len(parents))
    children = jax.jit(jax.vmap(lambda k, p: re_lib.mutate(SPACE, k, p, 1.0, True)))(keys, parents)
    valid, hashes = _valid_and_hashes(jnp.concatenate([children, parents]))
    assert bool(valid[:len(children)].all())
    same = (hashes[:len(children)] == hashes[len(children):]).all(-1)
    assert not bool(same.any())


@pytest.mark.slow  # ~9 CPU-s of its own: out of the fast lane
def test_official_mutation_may_keep_the_cell():
    # Without require_change (the official mutate_spec, and the default), some children
    # repeat the parent's cell: e.g. flips of edges that pruning removes again.
    assert not agent_configs.regularized_evolution().require_change
    parent = _sampled_strings(jax.random.key(3), 1)[0]
    keys = jax.random.split(jax.random.key(4), 400)
    children = jax.jit(jax.vmap(lambda k: re_lib.mutate(SPACE, k, parent, 1.0, False)))(keys)
    valid, hashes = _valid_and_hashes(jnp.concatenate([children, parent[None]]))
    assert bool(valid[:-1].all())
    assert bool((hashes[:-1] == hashes[-1]).all(-1).any())


@pytest.mark.slow  # ~5 CPU-s of its own: out of the fast lane
def test_mutation_rate_sets_the_expected_number_of_changes():
    # Before the validity filter, a mutation flips 21 * r / 7 edges and changes 5 * r / 5 ops
    # on average (official mutate_spec); r = 0.5 here.
    parent = jnp.asarray(strings_lib.encode(nb101.sample(jax.random.key(5))))
    draws = jax.vmap(lambda k: re_lib._mutations(SPACE, k, parent, 0.5))(
        jax.random.split(jax.random.key(6), 2000)).reshape(-1, 26)
    changed = np.asarray(draws != parent)
    assert abs(changed[:, 5:].sum(1).mean() - 1.5) < 0.05
    assert abs(changed[:, :5].sum(1).mean() - 0.5) < 0.03


@pytest.mark.parametrize("kwargs, message", [
    ({"population_size": 5, "tournament_size": 6}, "tournament_size"),
    ({"mutation_rate": 0.0}, "mutation_rate"),
    ({"initial": "bogus"}, "initial population"),
])
def test_bad_hyperparameters_are_rejected(kwargs, message):
    with pytest.raises(ValueError, match=message):
        re_lib.make_regularized_evolution(SPACE, **kwargs)


# ----------------------------------------------------------------------------- end to end


@pytest.fixture(scope="module")
def target_benchmark(data_dir):
    """SYNTHETIC benchmark over every cell: each conv3x3 adds 1/5, any other interior op
    costs 1/10 (the best cell: 7 vertices, all conv3x3, score 1)."""
    cells = nb101.enumerate_cells(data_dir, progress=False)
    conv3 = np.asarray((cells.ops == nb101.CONV3X3).sum(-1))
    others = np.asarray(nb101.num_vertices(cells)) - 2 - conv3
    return bench_lib.from_function(cells, (conv3 - 0.5 * others) / 5,
                                   name="synthetic-conv3x3-count")


@pytest.fixture(scope="module")
def evolution():
    return re_lib.make_regularized_evolution(SPACE, population_size=20, tournament_size=5)


@pytest.mark.slow
def test_improves_over_random_search_on_a_synthetic_benchmark(target_benchmark,
                                                                     evolution):
    key, trials, budget = jax.random.key(7), 16, 300
    keys = jax.random.split(key, trials)
    re_result = base.run_trials(evolution, target_benchmark, keys, budget, report_metric="val")
    rs_result = base.run_trials(random_search.make_searcher(SPACE), target_benchmark, keys,
                                budget, report_metric="val")
    re_seen, rs_seen = np.asarray(re_result.observed), np.asarray(rs_result.observed)
    assert bool(re_result.valid.all())  # every proposal is a valid cell of the space
    # Evolution exploits: its late queries are far better than random ones ...
    assert re_seen[:, -150:].mean() > rs_seen[:, -150:].mean() + 0.15
    # ... and it ends with a better best cell on average (0.80 vs 0.76 here).
    assert re_seen.max(1).mean() > rs_seen.max(1).mean()


@pytest.mark.slow
def test_trials_are_deterministic_per_seed(target_benchmark, evolution):
    def run(seed):
        keys = jax.random.split(jax.random.key(seed), 16)
        return base.run_trials(evolution, target_benchmark, keys, 300, report_metric="val").observed

    first = np.asarray(run(7))
    np.testing.assert_array_equal(first, np.asarray(run(7)))
    assert not np.array_equal(first, np.asarray(run(8)))
