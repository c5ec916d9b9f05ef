"""``configs/search.py`` presets and, end to end, ``python -m launch.search`` on a tiny
SYNTHETIC run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from configs import agents as agent_configs
from configs import search as search_config
from nasjax import registry, spaces

ROOT = Path(__file__).resolve().parents[2]


def _searcher(name, config):
    agent = registry.make("agent", name)
    return agent.make_searcher(spaces.get("nb101"), agent.block(config))


@pytest.mark.parametrize("preset", search_config.PRESETS)
def test_every_preset_builds_all_its_searchers(preset):
    config = search_config.get_config(preset)
    names = config.algorithms.split(",")
    searchers = [_searcher(name, config) for name in names]
    assert [s.name for s in searchers] == names
    assert config.mode == "noisy"  # ReMAADE selects by one noisy validation draw
    assert max(config.budgets) <= config.budget


def test_presets_hold_the_seed_settings():
    short, medium = (search_config.get_config(p) for p in ("remaade_short", "remaade_medium"))
    assert (short.budget, short.num_trials) == (150, 500)
    assert (short.remaade.learning_rate, short.remaade.embed_dim, short.remaade.num_orders,
            short.remaade.batch_size, short.remaade.objective) == (1e-2, 36, 1, 30, "reinforce")
    assert (medium.budget, medium.num_trials) == (3200, 500)
    assert (medium.remaade.learning_rate, medium.remaade.embed_dim, medium.remaade.num_orders,
            medium.remaade.batch_size, medium.remaade.objective) == (1e-3, 45, 4, 64, "ppo")
    assert short.remaade.num_layers == 1 and short.remaade.clip_eps == 0.1
    assert search_config.get_config("orders").algorithms == (
        "remaade_s1,remaade_s2,remaade_s4,remaade_s6,remaade_s8,remaade_s16,remaade_sall")
    # NAS-Bench-101's random search (uniform valid specs) in every ReMAADE preset
    assert all(search_config.get_config(p).algorithms.split(",")[0] == "random_search_uniform"
               for p in ("default", "remaade_short", "remaade_medium", "ablation"))
    assert search_config.get_config("ablation").algorithms.split(",")[1:] == [
        "reinforce", "reinforce_made", "remaade_reinforce", "remaade_ppo"]
    re_config = short.regularized_evolution
    assert (re_config.population_size, re_config.tournament_size,
            re_config.mutation_rate) == (50, 10, 1.0)


def test_unknown_preset_and_algorithm_are_named():
    with pytest.raises(ValueError, match="unknown preset 'bogus'"):
        search_config.get_config("bogus")
    with pytest.raises(ValueError, match="unknown agent 'bogus'.*regularized_evolution"):
        _searcher("bogus", search_config.get_config())


@pytest.mark.slow  # three searchers compile (about a minute on 2 cores)
def test_tiny_search_writes_the_run_directory(tmp_path, data_dir):
    workdir = tmp_path / "run"
    algorithms = ("random_search", "regularized_evolution", "remaade")
    command = [sys.executable, "-m", "launch.search",
               f"--config={ROOT / 'configs' / 'search.py'}", f"--workdir={workdir}",
               "--config.benchmark=nb101-synthetic", f"--config.data_dir={data_dir}",
               f"--config.algorithms={','.join(algorithms)}", "--config.num_trials=3",
               "--config.trials_per_chunk=2", "--config.budget=24", "--config.budgets=(8, 16)",
               "--config.regularized_evolution.population_size=6",
               "--config.regularized_evolution.tournament_size=3",
               "--config.remaade.batch_size=8", "--config.remaade.embed_dim=8"]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600,
                            env={**os.environ, "JAX_PLATFORMS": "cpu"})
    assert result.returncode == 0, result.stderr[-3000:]
    for name in ("config.json", "results.npz", "summary.json", "best_vs_queries.png",
                 "report.md"):
        assert (workdir / name).stat().st_size > 0, name
    summary = json.loads((workdir / "summary.json").read_text())
    assert summary["benchmark"] == "nb101-synthetic (SYNTHETIC)"
    assert summary["metric"] == "test error"
    assert summary["algorithms"] == list(algorithms)
    assert (summary["num_trials"], summary["budget"], summary["mode"]) == (3, 24, "noisy")
    assert set(summary["final"]) == set(algorithms)
    assert {(row["algorithm"], row["budget"]) for row in summary["table"]} == {
        (a, b) for a in algorithms for b in (8, 16, 24)}
    for row in summary["table"]:
        assert 0.0 < row["mean"] < 1.0 and row["ci_low"] <= row["mean"] <= row["ci_high"]
        assert row["num_trials"] == 3
    for name in algorithms:  # the best observed validation error never rises with queries
        means = [r["mean"] for r in summary["best_observed_validation_error_table"]
                 if r["algorithm"] == name]
        assert means == sorted(means, reverse=True)
    with np.load(workdir / "results.npz") as data:
        for name in algorithms:
            assert data[f"{name}/observed"].shape == (3, 24)
            assert data[f"{name}/valid"].all()
            assert data[f"{name}/unique"].shape == (3,)
            assert 1 <= data[f"{name}/unique"].min() and data[f"{name}/unique"].max() <= 24
            sampling = summary["sampling"][name]
            assert sampling["unique_mean"] == pytest.approx(data[f"{name}/unique"].mean())
            assert 0.0 < sampling["first_mean_error"] < 1.0
    room = summary["headroom"]  # every NAS-Bench-101 cell (the synthetic table holds all)
    assert room["num_architectures"] == 423_624
    assert room["best"] <= room["top_0.1%"] <= room["top_1%"]
    assert summary["duplicates"] == "query"
    markdown = (workdir / "report.md").read_text()
    assert "nb101-synthetic (SYNTHETIC)" in markdown and "test error" in markdown
    assert all(name in markdown for name in algorithms)
    assert "unique / trial" in markdown and "**Headroom.**" in markdown
    assert "ema_decay = 0.9 (our choice)" in markdown


def test_bad_duplicates_rule_stops_before_any_file(tmp_path):
    workdir = tmp_path / "run"
    result = subprocess.run(
        [sys.executable, "-m", "launch.search", f"--config={ROOT / 'configs' / 'search.py'}",
         f"--workdir={workdir}", "--config.duplicates=skip"],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
        env={**os.environ, "JAX_PLATFORMS": "cpu"})
    assert result.returncode == 2
    assert "duplicates" in result.stderr and "'query', 'resample'" in result.stderr
    assert not workdir.exists()


def test_help_marks_the_values_the_papers_do_not_give():
    help_text = subprocess.run(
        [sys.executable, "-m", "launch.search", f"--config={ROOT / 'configs' / 'search.py'}",
         "--help"], cwd=ROOT, capture_output=True, text=True, timeout=600,
        env={**os.environ, "JAX_PLATFORMS": "cpu"}).stdout
    for block, fields in agent_configs.our_choice().items():
        for field in fields:
            line = next(line for line in help_text.splitlines()
                        if line.strip().startswith(f"{block}.{field} ="))
            assert "our choice" in line, line
    assert "our choice" not in next(line for line in help_text.splitlines()
                                    if line.strip().startswith("remaade.embed_dim ="))
