"""End to end: ``python -m launch.train_apex`` with the ``smoke`` preset (SYNTHETIC benchmark):
a run stopped after its first chunk and resumed in a fresh process ends with the same
parameters as an uninterrupted one; the trained runs evaluate as the ``apex`` agent."""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from configs import apex
from nasjax import config_rules

ROOT = Path(__file__).resolve().parents[2]
CONFIG = f"--config={ROOT / 'configs' / 'apex.py'}:smoke"


def _run(args: list[str], env: dict, module: str = "launch.train_apex"):
    return subprocess.run([sys.executable, "-m", module, *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=900, env=env)


@pytest.fixture(scope="module")
def jax_env() -> dict:
    """CPU JAX with the session's persistent compilation cache (``tests/conftest.py``), shared
    with the in-process tests and every other launch."""
    assert os.environ.get("JAX_COMPILATION_CACHE_DIR"), "tests/conftest.py sets the cache"
    return {**os.environ, "JAX_PLATFORMS": "cpu"}


@pytest.fixture(scope="module")
def runs(tmp_path_factory, data_dir, jax_env) -> dict:
    """An uninterrupted smoke run, and one stopped after chunk 1 then resumed."""
    root = tmp_path_factory.mktemp("apex_runs")
    data = f"--config.data_dir={data_dir}"
    straight, resumed = root / "straight", root / "resumed"
    result = _run([CONFIG, data, f"--workdir={straight}"], jax_env)
    assert result.returncode == 0, result.stderr[-3000:]
    stopped = _run([CONFIG, data, f"--workdir={resumed}", "--max_chunks=1"], jax_env)
    assert stopped.returncode == 0, stopped.stderr[-3000:]
    partial = {"marker": (resumed / "PARTIAL").is_file(),
               "summary": (resumed / "summary.json").exists(),
               "checkpoints": sorted(p.name for p in (resumed / "checkpoints").iterdir())}
    other = _run([CONFIG, data, f"--workdir={resumed}", "--config.seed=1"], jax_env)
    again = _run([CONFIG, data, f"--workdir={resumed}"], jax_env)
    assert again.returncode == 0, again.stderr[-3000:]
    return {"straight": straight, "resumed": resumed, "partial": partial, "other": other,
            "again": again, "data": data}


@pytest.mark.parametrize("setting, named", [
    ("--config.devices=64", "devices=64: this process sees"),
    ("--config.replay_ratio=0.0001", "replay_ratio=0.0001 with 8 environments"),
])
@pytest.mark.slow  # ~6 CPU-s of its own: out of the fast lane
def test_an_impossible_device_count_or_schedule_is_one_line_before_any_file(
        setting, named, tmp_path, jax_env):
    result = _run([CONFIG, setting, f"--workdir={tmp_path / 'run'}"], jax_env)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert named in result.stderr
    assert not (tmp_path / "run").exists() and not (tmp_path / "run.partial").exists()


@pytest.mark.slow  # three training processes (compilation cached after the first)
def test_smoke_run_writes_its_run_directory(runs):
    workdir = runs["straight"]
    for name in ("config.json", "metrics.csv", "training_curve.png", "summary.json",
                 "report.md"):
        assert (workdir / name).stat().st_size > 0, name
    assert not (workdir / "PARTIAL").exists()
    assert sorted(p.name for p in (workdir / "checkpoints").iterdir()) == ["1", "2"]
    summary = json.loads((workdir / "summary.json").read_text())
    assert summary["benchmark"] == "nb101-synthetic (SYNTHETIC)"
    warm_up = 16  # the n - 1 = 2 steps of each of 8 environments that fill their histories
    assert summary["env_steps"] == 256 + warm_up and summary["chunks"] == 2
    assert summary["learner_steps"] > 0 and len(summary["final_params_sha256"]) == 64
    with open(workdir / "metrics.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert [int(row["env_steps"]) for row in rows] == [128 + warm_up, 256 + warm_up]
    assert all(0.0 < float(row["final_val_acc"]) < 1.0 for row in rows)
    assert "SYNTHETIC" in (workdir / "report.md").read_text()


@pytest.mark.slow
def test_stopped_and_resumed_run_ends_with_the_same_parameters(runs):
    assert runs["partial"] == {"marker": True, "summary": False, "checkpoints": ["1"]}
    assert runs["other"].returncode == 2 and "another config" in runs["other"].stderr
    assert "resuming after chunk 1 of 2" in runs["again"].stdout
    straight = json.loads((runs["straight"] / "summary.json").read_text())
    resumed = json.loads((runs["resumed"] / "summary.json").read_text())
    assert resumed["final_params_sha256"] == straight["final_params_sha256"]
    assert resumed["resumed_at_chunks"] == [1] and straight["resumed_at_chunks"] == []
    assert not (runs["resumed"] / "PARTIAL").exists()


@pytest.mark.slow  # one more training process
def test_a_damaged_newest_checkpoint_resumes_from_the_previous_one(runs, tmp_path, jax_env):
    workdir = tmp_path / "damaged"
    shutil.copytree(runs["straight"], workdir)
    for file in (workdir / "checkpoints" / "2").rglob("*"):
        if file.is_file() and file.parent.name == "d":  # tensorstore's data chunks
            file.write_bytes(b"\xff" * file.stat().st_size)
    result = _run([CONFIG, runs["data"], f"--workdir={workdir}"], jax_env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    assert "skipped the damaged checkpoint(s) 2 (set aside as <chunks>.corrupt" in result.stdout
    assert "resuming after chunk 1 of 2" in result.stdout
    straight = json.loads((runs["straight"] / "summary.json").read_text())
    again = json.loads((workdir / "summary.json").read_text())
    assert again["final_params_sha256"] == straight["final_params_sha256"]
    assert sorted(p.name for p in (workdir / "checkpoints").iterdir()) == ["1", "2", "2.corrupt"]


@pytest.mark.slow  # one more training process
def test_a_signal_during_a_chunk_checkpoints_it_before_the_run_stops(tmp_path, data_dir,
                                                                    jax_env):
    # 1,000 chunks with no checkpoint due before the end: the stop keeps the chunks done.
    workdir = tmp_path / "stopped"
    process = subprocess.Popen(
        [sys.executable, "-m", "launch.train_apex", CONFIG, f"--config.data_dir={data_dir}",
         "--config.total_steps=128000", "--config.checkpoint_every=1000",
         f"--workdir={workdir}"], cwd=ROOT, env=jax_env, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True)
    progress = ""
    while "chunks:" not in progress:  # the bar appears as the loop starts
        progress += process.stderr.read(1) or pytest.fail(f"ended early: {progress[-3000:]}")
    # The first chunk starts right after the bar (a signal before it stops the run with nothing
    # to keep): half a CPU-second more of the process is the chunk's work, on a loaded machine
    # too, where the bar's write can be the last thing it did before being descheduled.
    started = _cpu_seconds_of(process.pid)
    while _cpu_seconds_of(process.pid) < started + 0.5:
        if process.poll() is not None:
            pytest.fail(f"ended early: {process.communicate()[1][-3000:]}")
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr[-3000:]
    assert "Traceback" not in stderr and (workdir / "PARTIAL").is_file()
    (kept,) = [int(p.name) for p in (workdir / "checkpoints").iterdir()]
    assert 1 <= kept < 1000
    with open(workdir / "metrics.csv") as handle:
        assert len(list(csv.DictReader(handle))) == kept


def _cpu_seconds_of(pid: int) -> float:
    """The user + system CPU seconds of a live process (Linux: /proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


@pytest.mark.slow
def test_trained_runs_evaluate_as_the_apex_agent(runs, tmp_path, jax_env):
    workdir = tmp_path / "evaluation"
    dirs = f"{runs['straight']},{runs['resumed']}"
    # Ape-X alone: another agent's programs would cost 20 CPU-s more (test_evaluate runs them).
    result = _run([f"--config={ROOT / 'configs' / 'evaluate.py'}:quick", f"--workdir={workdir}",
                   "--config.benchmark=nb101-synthetic", runs["data"],
                   "--config.agents=apex", f"--config.apex_checkpoints={dirs}",
                   "--config.agent_seeds=1", "--config.num_sets=1",
                   "--config.episodes_per_set=64", "--config.episodes_per_chunk=64",
                   "--config.env.neighbourhood=on_the_fly", "--config.env.max_neighbours=6",
                   "--config.env.eval_episode_length=8", "--config.max_queries=20",
                   "--config.budgets=(10,)", "--config.gof_max_samples=20",
                   "--config.gof_mc_samples=0", "--config.correlation_samples=100"],
                  jax_env, module="launch.evaluate")
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads((workdir / "summary.json").read_text())
    assert summary["agents"]["apex"]["episodes"] == 2 * 64  # one policy per run directory
    assert summary["agents"]["apex"]["mean_queries"] == 1.0
    straight = json.loads((runs["straight"] / "summary.json").read_text())
    provenance = summary["apex_checkpoints"]
    assert [(run["seed"], run["benchmark"], run["chunks"], run["env_steps"], run["complete"])
            for run in provenance] == [(0, "nb101-synthetic", 2, 272, True),
                                       (1, "nb101-synthetic", 2, 272, True)]  # warm-up: +16
    assert {run["final_params_sha256"] for run in provenance} == {
        straight["final_params_sha256"]}  # resumed to the same parameters
    report = (workdir / "report.md").read_text()
    assert "## Ape-X checkpoints" in report and straight["final_params_sha256"] in report
    assert f"apex seed 0: {runs['straight']} (trained on nb101-synthetic, 2 chunks" in (
        result.stdout)


@pytest.mark.slow  # one more training process
def test_runs_that_differ_in_gamma_compare_in_one_figure(runs, tmp_path, jax_env):
    # Cassimon et al. Fig. 17: the same run with gamma 0.95, labelled by what differs.
    other = tmp_path / "gamma"
    result = _run([CONFIG, runs["data"], "--config.gamma=0.95", f"--workdir={other}"], jax_env)
    assert result.returncode == 0, result.stderr[-3000:]
    workdir = tmp_path / "compared"
    result = _run([f"--runs={runs['straight']},{other}", f"--workdir={workdir}"], jax_env,
                  module="launch.compare_apex")
    assert result.returncode == 0, result.stderr[-3000:]
    assert (workdir / "training_curves.png").stat().st_size > 0
    summary = json.loads((workdir / "summary.json").read_text())
    assert [run["label"] for run in summary["runs"]] == ["gamma=0.9", "gamma=0.95"]
    assert summary["benchmark"] == "nb101-synthetic (SYNTHETIC)"
    straight = json.loads((runs["straight"] / "summary.json").read_text())
    assert summary["runs"][0]["final_params_sha256"] == straight["final_params_sha256"]
    assert "| gamma=0.95 |" in (workdir / "report.md").read_text()


def test_comparing_a_directory_that_is_no_training_run_is_one_line(tmp_path, jax_env):
    (tmp_path / "empty").mkdir()
    result = _run([f"--runs={tmp_path / 'empty'}", f"--workdir={tmp_path / 'out'}"], jax_env,
                  module="launch.compare_apex")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "is not a complete Ape-X training run (no config.json, summary.json" in result.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("preset", [p for p in apex.PRESETS if "nb301" not in p])
def test_nb101_presets_pass_their_rules(preset):
    config = apex.get_config(preset)
    config_rules.check_config(config, apex.RULES, "config")
    assert config.total_steps >= 256 and config.env.train_episode_length >= 1


def test_presets_follow_the_paper():
    paper = apex.get_config("paper")
    assert (paper.total_steps, paper.gamma, paper.learning_rate, paper.env.max_neighbours,
            paper.env.alpha, paper.network.latent_dim) == (10_000_000, 0.9, 4e-5, 50, 6.0, 256)
    assert (paper.num_workers, paper.envs_per_worker, paper.batch_size) == (8, 32, 512)
    assert apex.get_config("gamma_0.99").gamma == 0.99
    assert apex.get_config("neighbours_25").env.max_neighbours == 25
    assert apex.get_config("alpha_none").env.alpha is None
    nb301 = apex.get_config("nb301")
    assert (nb301.benchmark, nb301.total_steps, nb301.network.latent_dim,
            nb301.env.alpha) == ("nb301-surrogate", 15_000_000, 512, 32.0)


def test_paper_presets_follow_rllibs_ape_x_and_the_others_ours():
    def choices(config):
        return (config.weight_sync, config.reward_scale, config.importance_weights,
                config.network.dueling_input)

    rllib = ("sample_batch", "paper", "buffer_min", "first_token")
    ours = ("learner_steps", "unit", "batch_max", "every_token")
    for preset in apex.PRESETS:
        config = apex.get_config(preset)
        assert choices(config) == (ours if preset in ("cpu", "smoke", "cpu_nb301") else rllib)
    paper = apex.get_config("paper")
    assert (paper.rollout_fragment_length, paper.max_weight_sync_delay) == (50, 400)
