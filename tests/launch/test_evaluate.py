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
