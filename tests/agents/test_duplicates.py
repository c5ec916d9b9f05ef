"""The shared rule for repeated proposals (``duplicates``) of every query-budget searcher."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from configs import agents as agent_configs
from configs import search as search_config
from nasjax import registry, spaces
from nasjax.agents import duplicates
from nasjax.benchmarks import base as bench_lib
from nasjax.evaluation import search

SPACE = spaces.get("nb101")
SEARCHERS = ("random_search", "random_search_uniform", "regularized_evolution", "remaade")


def _searcher(name: str, rule: str, budget: int):
    """A registered searcher with small blocks (P = 10, T = 3; ReMAADE B = 10, d = 8)."""
    config = ml_collections.ConfigDict({
        "regularized_evolution": agent_configs.regularized_evolution(),
        "remaade": agent_configs.remaade()})
    config.regularized_evolution.update(population_size=10, tournament_size=3)
    config.remaade.update(batch_size=10, embed_dim=8)
    agent = registry.make("agent", name)
    return agent.make_searcher(SPACE, agent.block(config), duplicates=rule, budget=budget)


def _queried_hashes(searcher, budget: int, seed: int = 0) -> np.ndarray:
    """[budget, H]: hashes of the architectures one trial queries, rewarded by a random
    validation accuracy (no benchmark needed)."""

    def step(state, key):
        key_propose, key_reward = jax.random.split(key)
        archs = searcher.propose(state, key_propose)
        reward = jax.random.uniform(key_reward, (searcher.batch,))
        metrics = bench_lib.Metrics(valid=jnp.ones(searcher.batch, bool), val_acc=reward,
                                    test_acc=reward, train_seconds=reward, params=reward)
        return searcher.update(state, archs, metrics), SPACE.hash(archs)

    @jax.jit
    def trial(key):
        key_init, key_scan = jax.random.split(key)
        steps = budget // searcher.batch
        _, hashes = jax.lax.scan(step, searcher.init(key_init), jax.random.split(key_scan, steps))
        return hashes.reshape(budget, -1)

    return np.asarray(trial(jax.random.key(seed)))


def test_memory_holds_what_was_added_and_finds_first_of_repeats():
    memory = duplicates.empty(SPACE, 4)
    assert memory.hashes.shape == (4, 2) and int(memory.count) == 0
    hashes = jnp.asarray([[1, 2], [3, 4], [1, 2], [5, 6]], jnp.uint32)
    memory = duplicates.add(memory, hashes, jnp.asarray([True, False, True, True]))
    assert int(memory.count) == 3
    np.testing.assert_array_equal(duplicates.contains(memory, hashes), [True, False, True, True])
    np.testing.assert_array_equal(
        duplicates.first_of_equals(hashes, jnp.asarray([True, True, True, False])),
        [True, True, False, False])
    full = duplicates.add(memory, hashes)  # beyond capacity: dropped
    assert int(full.count) == 4


def test_unknown_rule_and_missing_budget_are_named():
    with pytest.raises(ValueError, match="unknown duplicates rule 'skip'"):
        _searcher("random_search_uniform", "skip", 30)
    with pytest.raises(ValueError, match="needs the trial's budget"):
        _searcher("remaade", "resample", 0)
    assert search_config.DUPLICATES == duplicates.RULES
    assert search_config.get_config().duplicates == "query"  # the papers: every proposal


# Each searcher's trial is a program of its own (11-16 CPU-s): the fast lane keeps the cheapest.
@pytest.mark.parametrize("name", [name if name == "random_search_uniform" else
                                  pytest.param(name, marks=pytest.mark.slow)
                                  for name in SEARCHERS])
@pytest.mark.slow  # ~8 CPU-s of its own: out of the fast lane
def test_resample_queries_a_new_architecture_every_time(name):
    """With ``resample`` no architecture is queried twice in a trial; with ``query`` (the
    papers') random search over uniform strings repeats some within 150 queries."""
    hashes = _queried_hashes(_searcher(name, "resample", 150), 150)
    assert len(np.unique(hashes, axis=0)) == 150
    unique = search.unique_per_trial(hashes[None], np.ones((1, 150), bool))
    np.testing.assert_array_equal(unique, [150])


@pytest.mark.slow  # ~6 CPU-s of its own: out of the fast lane
def test_query_rule_repeats_architectures():
    hashes = _queried_hashes(_searcher("random_search_uniform", "query", 150), 150)
    assert len(np.unique(hashes, axis=0)) < 150
