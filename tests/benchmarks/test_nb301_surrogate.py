"""``nb301-surrogate``: fitted deterministically on the 725 real genotypes, queried in JAX with
the fitted XGBoost's own predictions, described as a surrogate everywhere, and an environment
on which random walk and local search run (a small configuration keeps the fit fast)."""

from __future__ import annotations

import jax
import numpy as np
import pytest
import xgboost

from configs import environment
from nasjax import env, paths, registry, spaces
from nasjax.agents import local_search, random_walk
from nasjax.benchmarks import base, nb301_ensemble, nb301_real, nb301_surrogate, trees
from nasjax.evaluation import episodes

SMALL = nb301_surrogate.Config(members=3, trees=20)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("nb301_surrogate")
    summary = nb301_surrogate.build(data_dir, progress=False, config=SMALL)
    bench = nb301_surrogate.load(data_dir, progress=False)
    return data_dir, summary, bench


def test_build_reports_held_out_quality_and_stores_it(built):
    _, summary, bench = built
    for part, n in (("split", 145), ("cross_validation", 725)):
        figures = summary["held_out"][part]
        assert figures["n"] == n and 0 < figures["kendall_tau"] <= figures["spearman"] < 1
        assert 0 < figures["rmse_percent"] < 1  # the real accuracies span 91.2 .. 94.5 %
    assert bench.held_out == summary["held_out"]
    assert summary["members"] == 3 and summary["trees_per_member"] == [20] * 3


def test_every_description_names_it_a_surrogate_of_725(built):
    _, _, bench = built
    assert "SURROGATE fitted on 725" in bench.label
    assert "SURROGATE" in bench.metadata["data"] and "60,000" in bench.metadata["data"]
    entry = registry.entry("benchmark", "nb301-surrogate")
    assert "SURROGATE fitted on 725" in entry.info["description"]


def test_query_equals_the_fitted_xgboost_members(built):
    _, _, bench = built
    x, y = nb301_surrogate.real_features()
    train, _ = nb301_surrogate.split(len(y))
    boosters = nb301_surrogate.fit_members(x[train], y[train], SMALL)  # deterministic refit
    theirs = np.stack([b.predict(xgboost.DMatrix(x)) for b in boosters], -1)
    ours = np.asarray(trees.predict(bench.ensemble, x))
    np.testing.assert_array_equal(ours.view(np.int32), theirs.view(np.int32))
    real = jax.tree.map(np.asarray, nb301_real.read_shipped()["genotypes"])
    out = jax.jit(base.query)(bench, real)
    np.testing.assert_array_equal(np.asarray(out.val_acc), theirs.mean(-1) / np.float32(100))


def test_a_missing_or_corrupt_cache_is_rebuilt(built, tmp_path):
    data_dir, _, bench = built
    path = tmp_path / nb301_surrogate.FILE
    path.write_bytes((data_dir / nb301_surrogate.FILE).read_bytes())
    assert not paths.cached(path, "remake")  # no checksum file: rebuilt on load
    with pytest.raises(paths.DataFileError):
        nb301_ensemble.load_file(path, "x", "remake")


@pytest.mark.parametrize("policy_name", ["random_walk", "local_search"])
def test_episodes_run_on_the_nb301_environment(built, policy_name):
    _, _, bench = built
    settings = environment.get("nb301")
    assert (settings.alpha, settings.max_neighbours) == (32.0, 50)
    space = spaces.get("nb301")
    params = env.make_params(space, bench, max_neighbours=settings.max_neighbours,
                             alpha=settings.alpha, episode_length=8,
                             query_mode=settings.query_mode)
    assert params.report == "val"  # §4.2.1: validation accuracy as reward and report
    policy = (random_walk.make_policy() if policy_name == "random_walk"
              else local_search.make_policy(params))
    initial = space.sample(jax.random.key(5), (6,))
    out = episodes.run_episodes(policy, params, initial, jax.random.key(6))
    start = np.asarray(jax.jit(base.query)(bench, initial).val_acc)
    np.testing.assert_array_equal(np.asarray(out.initial_val), start)
    assert ((np.asarray(out.steps) >= 1) & (np.asarray(out.steps) <= 8)).all()
    assert (np.asarray(out.best_val) >= start).all() and np.isfinite(out.final_val).all()
    if policy_name == "local_search":  # it only moves uphill: the final is the best seen
        np.testing.assert_array_equal(np.asarray(out.final_val), np.asarray(out.best_val))
        assert (np.asarray(out.queries) > 1).all()


def test_the_evaluate_preset_is_table_2():
    from configs import evaluate

    config = evaluate.get_config("nb301")
    assert config.benchmark == "nb301-surrogate" and config.max_queries == 1000
    assert tuple(config.budgets) == (150, 200, 300, 400, 800, 1000)
    assert (config.env.alpha, config.env.max_neighbours) == (32.0, 50)
    assert config.env.neighbourhood == "on_the_fly"
