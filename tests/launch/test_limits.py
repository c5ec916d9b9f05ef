"""Sizes and values the launches used to accept silently: one line and exit 2 before any file
or large allocation."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from launch import common

ROOT = Path(__file__).resolve().parents[2]


def _launch(module: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    result, _ = _launch_measured(module, tmp_path, *args)
    return result


# Runs a launch module as __main__ and, at exit, writes its own peak resident memory (VmHWM of
# /proc/self/status, in KiB) to the file named by argv[1]. rusage's ru_maxrss would not do: on
# Linux a child started by (v)fork + exec inherits its parent's peak, here the xdist worker's.
_PEAK_WRAPPER = """
import atexit, runpy, sys
peak_file, module = sys.argv[1], sys.argv[2]
def write_peak():
    with open("/proc/self/status") as status:
        peak = next(line.split()[1] for line in status if line.startswith("VmHWM:"))
    with open(peak_file, "w") as out:
        out.write(peak)
atexit.register(write_peak)
sys.argv = [module, *sys.argv[3:]]
runpy.run_module(module, run_name="__main__", alter_sys=True)
"""


def _launch_measured(module: str, tmp_path: Path,
                     *args: str) -> tuple[subprocess.CompletedProcess, int | None]:
    """The launch's result and its own peak resident memory in KiB (None without /proc)."""
    peak_file = tmp_path / "peak_kib"
    result = subprocess.run(
        [sys.executable, "-c", _PEAK_WRAPPER, str(peak_file), module,
         f"--workdir={tmp_path / 'run'}", *args], cwd=ROOT, capture_output=True, text=True,
        timeout=600,
        env={**os.environ, "JAX_PLATFORMS": "cpu", "NASJAX_DATA": str(tmp_path / "data")})
    peak = int(peak_file.read_text()) if Path("/proc/self/status").exists() else None
    return result, peak


@pytest.mark.parametrize("module, args, message", [
    ("launch.search", ["--config.num_trials=1000000000"],
     r"^error: 1,000,000,000 trials x 150 queries x \d algorithms needs about [\d,.]+ GiB of "
     r"memory, more than the [\d,.]+ GiB available; lower config.num_trials or config.budget\n$"),
    ("launch.search", ["--config.budgets=(50,500)"],
     r"^error: config.budgets = \(50, 500\): 500 past config.budget = 150, where trials end; "
     r"drop them or raise config.budget\n$"),
    ("launch.evaluate", ["--config.episodes_per_set=1000000000"],
     r"^error: 15,000,000,000 episodes \(5 seeds x 1 sets x 1,000,000,000 episodes x 3 agents\) "
     r"needs about [\d,.]+ GiB .*; lower config.episodes_per_set, config.num_sets or "
     r"config.agent_seeds\n$"),
    ("launch.evaluate", ["--config.budgets=(50,400)", "--config.max_queries=300"],
     r"^error: config.budgets = \(50, 400\): 400 past config.max_queries = 300"),
    ("launch.train_apex", [f"--config={ROOT / 'configs' / 'apex.py'}:smoke",
                           "--config.batch_size=512", "--config.replay_capacity=16"],
     r"^error: config.batch_size = 512 exceeds config.replay_capacity = 16: each learner step "
     r"samples a batch from the replay; lower config.batch_size or raise "
     r"config.replay_capacity\n$"),
])
@pytest.mark.slow  # ~17 CPU-s of its own: out of the fast lane
def test_impossible_sizes_are_one_line_before_any_file(module, args, message, tmp_path):
    if module == "launch.evaluate":
        args = [f"--config={ROOT / 'configs' / 'evaluate.py'}", "--config.num_sets=1", *args]
    result, peak = _launch_measured(module, tmp_path, *args)
    assert result.returncode == 2, result.stderr[-2000:]
    assert re.search(message, result.stderr), result.stderr
    assert not (tmp_path / "run").exists() and not (tmp_path / "run.partial").exists()
    if peak is not None:
        assert peak < 4 * 2**20  # KiB: refused before allocating, far below the estimate


def test_check_memory_names_the_estimate_and_the_fields():
    with pytest.raises(common.ConfigError, match=(
            r"^10 things needs about 1,024.0 GiB of memory, more than the [\d,.]+ GiB "
            r"available; lower config.x$")):
        common.check_memory(2**40, "10 things", "config.x")
    common.check_memory(1024, "a few things", "config.x")


@pytest.mark.slow  # ~4 CPU-s of its own: out of the fast lane
def test_total_steps_rounded_up_to_whole_chunks_is_said_in_one_line(tmp_path):
    (tmp_path / "file").write_text("x")  # a data directory that stops the launch after the note
    args = [f"--config={ROOT / 'configs' / 'apex.py'}:smoke", f"--config.data_dir={tmp_path}/file"]
    result = _launch("launch.train_apex", tmp_path, *args)
    assert result.returncode == 2 and result.stdout == ""  # 256 steps: two chunks of 128
    result = _launch("launch.train_apex", tmp_path, *args, "--config.batch_size=512",
                     "--config.replay_capacity=4096")
    assert result.returncode == 2 and "file is not a directory" in result.stderr
    assert result.stdout == (
        "note: config.total_steps = 256 rounded up to 4,096 environment steps: whole chunks of "
        "4,096 (iterations_per_chunk x actor steps per iteration x environments)\n")
