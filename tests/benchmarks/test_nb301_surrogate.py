"""``nb301-surrogate``: shipped as fitted on the 725 real genotypes (a refit with the recorded
XGBoost writes the same bytes), queried in JAX with the fitted XGBoost's own predictions,
described as a surrogate everywhere, and an environment on which random walk and local search
run (a small refit keeps those tests fast)."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import jax
import numpy as np
import pytest
import xgboost

from configs import environment
from nasjax import env, paths, registry, spaces
from nasjax.agents import local_search, random_walk
from nasjax.benchmarks import base, nb301_features, nb301_real, nb301_surrogate, trees
from nasjax.evaluation import episodes

SMALL = nb301_surrogate.Nb301Fit(members=3, trees=20)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    package = tmp_path_factory.mktemp("nb301_surrogate")
    summary = nb301_surrogate.refit(package, progress=False, config=SMALL)
    bench = nb301_surrogate.load(package_dir=package)
    return package, summary, bench


def test_the_shipped_ensemble_is_what_a_refit_writes(tmp_path):
    shipped = trees.package_metadata(paths.PACKAGE_DATA, nb301_surrogate.STEM, "reinstall")
    if shipped["xgboost_version"] != xgboost.__version__:
        pytest.skip(f"shipped fit by XGBoost {shipped['xgboost_version']}, installed "
                    f"{xgboost.__version__}: trees may differ")
    nb301_surrogate.refit(tmp_path, progress=False)
    for name in [f"{nb301_surrogate.STEM}.json"] + [f["file"] for f in shipped["files"].values()]:
        assert (tmp_path / name).read_bytes() == (paths.PACKAGE_DATA / name).read_bytes(), name


def test_the_shipped_ensemble_loads_without_a_data_dir_and_records_its_fit():
    bench = nb301_surrogate.load()
    meta = bench.metadata
    assert json.loads(meta["config"]) == dataclasses.asdict(nb301_surrogate.DEFAULT_FIT)
    assert json.loads(meta["features"]) == list(nb301_features.FEATURE_NAMES)
    real = nb301_real.read_shipped()
    train, _ = nb301_surrogate.split(nb301_real.NUM_REAL)
    assert meta["train_max_val_acc"] == float(real["val_acc"][train].max())
    assert bench.held_out["cross_validation"]["kendall_tau"] > 0.6
    assert bench.ensemble.num_trees == (nb301_surrogate.DEFAULT_FIT.trees,) * 5


def test_build_reports_held_out_quality_and_stores_it(built):
    _, summary, bench = built
    for part, n in (("split", 145), ("cross_validation", 725)):
        figures = summary["held_out"][part]
        assert figures["n"] == n and 0 < figures["kendall_tau"] <= figures["spearman"] < 1
        assert 0 < figures["rmse_percent"] < 1  # the real accuracies span 91.2 .. 94.5 %
    assert bench.held_out == summary["held_out"]
    assert summary["members"] == 3 and summary["trees_per_member"] == [20] * 3
    assert bench.metadata["xgboost_version"] == xgboost.__version__ == summary["xgboost_version"]


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


def test_a_damaged_or_missing_package_file_is_one_clear_error(built, tmp_path):
    package, _, _ = built
    for path in package.glob(f"{nb301_surrogate.STEM}*"):
        shutil.copy(path, tmp_path / path.name)
    target = tmp_path / f"{nb301_surrogate.STEM}_val_acc.npz"
    target.write_bytes(target.read_bytes()[:-1] + b"!")
    with pytest.raises(paths.DataFileError, match="_val_acc.npz: size or sha256 differs"):
        nb301_surrogate.load(package_dir=tmp_path)
    (tmp_path / f"{nb301_surrogate.STEM}.json").unlink()
    with pytest.raises(paths.DataFileError, match=r"\.json: missing; remake it with: reinstall"):
        nb301_surrogate.load(package_dir=tmp_path)


@pytest.mark.slow  # ~13 CPU-s of its own: out of the fast lane
@pytest.mark.parametrize("policy_name", ["random_walk", "local_search"])
def test_episodes_run_on_the_nb301_environment(built, policy_name):
    _, _, bench = built
    settings = environment.get("nb301")
    assert (settings.alpha, settings.max_neighbours) == (32.0, 50)
    space = spaces.get("nb301")
    params = env.make_params(space, bench, max_neighbours=settings.max_neighbours,
                             alpha=settings.alpha, episode_length=8,
                             query_mode=settings.query_mode)
    assert params.report_metric == "val"  # §4.2.1: validation accuracy as reward and report
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


BLOCK_XGBOOST = "import sys; sys.modules['xgboost'] = None  # any import xgboost now fails\n"


def run_without_xgboost(code: str, data_dir) -> str:
    """Run ``code`` in a fresh interpreter where ``import xgboost`` fails, with ``data_dir`` as
    $NASJAX_DATA; its stdout."""
    result = subprocess.run(
        [sys.executable, "-c", BLOCK_XGBOOST + textwrap.dedent(code)], capture_output=True,
        text=True, cwd=Path(__file__).parents[2], env={**os.environ, "NASJAX_DATA": str(data_dir)},
        timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def test_the_default_nb301_path_never_imports_xgboost(tmp_path):
    out = run_without_xgboost("""
        import jax, numpy as np
        from nasjax import benchmarks
        from nasjax.benchmarks import nb301_real
        bench = benchmarks.load("nb301-surrogate")
        genotypes = jax.tree.map(lambda x: x[:8], nb301_real.read_shipped()["genotypes"])
        print(np.asarray(jax.jit(benchmarks.query)(bench, genotypes).val_acc).tolist())
        """, tmp_path)
    real = jax.tree.map(lambda x: x[:8], nb301_real.read_shipped()["genotypes"])
    expected = jax.jit(base.query)(nb301_surrogate.load(), real).val_acc
    assert json.loads(out.splitlines()[-1]) == np.asarray(expected).tolist()
    assert not list(tmp_path.iterdir())  # nothing derived, nothing written


def test_refit_without_xgboost_says_how_to_install_it(tmp_path):
    result = subprocess.run(
        [sys.executable, "-c", BLOCK_XGBOOST + "import runpy, sys; sys.argv = ['prepare_data', "
         f"'--benchmark=nb301-surrogate', '--refit', '--data_dir={tmp_path / 'out'}']; "
         "runpy.run_module('launch.prepare_data', run_name='__main__')"],
        capture_output=True, text=True, cwd=Path(__file__).parents[2], timeout=600)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        "error: --refit fits with XGBoost, which is not installed: pip install 'nasjax[refit]'")
    assert not (tmp_path / "out").exists()
