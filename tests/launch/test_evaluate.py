"""End to end: ``python -m launch.evaluate`` on a tiny SYNTHETIC run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow  # needs the enumeration and the neighbour table (cached in data_dir)
def test_tiny_evaluation_writes_the_run_directory(tmp_path, data_dir, full_neighbour_table):
    workdir = tmp_path / "run"
    command = [sys.executable, "-m", "launch.evaluate",
               f"--config={ROOT / 'configs' / 'evaluate.py'}:quick", f"--workdir={workdir}",
               "--config.benchmark=nb101-synthetic", f"--config.data_dir={data_dir}",
               "--config.agent_seeds=2", "--config.num_sets=2", "--config.episodes_per_set=96",
               "--config.episodes_per_chunk=64", "--config.env.eval_episode_length=8",
               "--config.max_queries=60", "--config.budgets=(10, 50)",
               "--config.gof_max_samples=50", "--config.gof_mc_samples=20",
               "--config.correlation_samples=500"]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600,
                            env={**os.environ, "JAX_PLATFORMS": "cpu"})
    assert result.returncode == 0, result.stderr[-3000:]
    for name in ("config.json", "initial_states.npz", "episodes.npz", "curves.npz",
                 "summary.json", "improvement_hist.png", "initial_vs_improvement.png",
                 "best_vs_queries.png", "neighbours_vs_accuracy.png", "report.md"):
        assert (workdir / name).stat().st_size > 0, name
    summary = json.loads((workdir / "summary.json").read_text())
    assert summary["benchmark"] == "nb101-synthetic (SYNTHETIC)"
    assert set(summary["agents"]) == {"random_walk", "local_search", "random_search"}
    for info in summary["agents"].values():
        assert info["episodes"] == 2 * 2 * 96
        assert {"median", "intervals", "skew", "normaltest_pvalue", "t_gof_pvalue"} <= set(
            info["improvement"])
        assert info["improvement"]["t_gof_num_samples"] == 50  # the t test ran (JAX)
        assert 0 < info["improvement"]["t_gof_pvalue"] <= 1
    assert summary["agents"]["random_walk"]["mean_queries"] == 1.0
    assert summary["agents"]["local_search"]["mean_queries"] > 1.0
    assert {(row["algorithm"], row["budget"]) for row in summary["table"]} == {
        (a, b) for a in summary["agents"] for b in (10, 50)}
    correlation = summary["neighbour_correlation"]
    assert {"pearson", "kendall"} <= set(correlation["uniform"]) & set(correlation["initial"])
    assert correlation["initial"]["n"] == 2 * 96  # each initial state once
    assert correlation["uniform"]["n"] == 500  # uniform cells of the benchmark (Fig. 11)
    with np.load(workdir / "initial_states.npz") as sets:
        assert sets["set0/ops"].shape == (96, 7) and sets["set1/adj"].shape == (96, 7, 7)
    with np.load(workdir / "episodes.npz") as data:
        assert data["local_search/queries"].shape == (2 * 2 * 96,)
        assert (data["random_walk/steps"] <= 8).all()
    assert "SYNTHETIC" in (workdir / "report.md").read_text()


def _evaluate(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "launch.evaluate",
               f"--config={ROOT / 'configs' / 'evaluate.py'}:quick",
               f"--workdir={tmp_path / 'run'}", *args]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "JAX_PLATFORMS": "cpu"})


@pytest.mark.slow  # ~5 CPU-s of its own: out of the fast lane
def test_an_unfinished_apex_run_is_refused_unless_allowed(tmp_path):
    apex = tmp_path / "apex"
    (apex / "checkpoints").mkdir(parents=True)
    (apex / "config.json").write_text("{}")
    (apex / "PARTIAL").write_text("incomplete run: running (pid 1)\n")
    result = _evaluate(tmp_path, "--config.agents=apex", f"--config.apex_checkpoints={apex}")
    assert (result.returncode, result.stderr) == (
        2, f"error: --config.apex_checkpoints: {apex} is an unfinished Ape-X training run "
           "(PARTIAL: incomplete run: running (pid 1)); finish it with python -m "
           "nasjax.launch.train_apex, or pass --allow_unfinished_apex to evaluate its newest "
           "checkpoint\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["apex"]


@pytest.mark.slow  # ~7 CPU-s of its own: out of the fast lane
def test_a_bad_value_found_while_building_leaves_no_partial_directory(tmp_path,
                                                                      full_neighbour_table):
    # The launch loads the preset's data (the session's $NASJAX_DATA) before the bad value is
    # found; the fixture builds it first, so that the one line on stderr is the error alone.
    result = _evaluate(tmp_path, "--config.agents=apex", "--config.apex_checkpoints=")
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr[-2000:]
    assert "the apex agent needs trained runs" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_the_report_links_only_the_figures_written(tmp_path):
    from launch import common

    (tmp_path / "a.png").write_bytes(b"png")
    text = "# R\n\n![a](a.png)\n\n## B\n\ntext\n\n![b](best_vs_queries.png)\n\n## C\n"
    assert common.without_missing_figures(text, tmp_path) == (
        "# R\n\n![a](a.png)\n\n## B\n\ntext\n\n## C\n")
