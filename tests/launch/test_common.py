"""Specification of launch.common through a tiny launch script (tests/launch/fake_launch.py,
config tests/launch/fake_config.py), run as a subprocess from another directory: the packaged
default config, --help, one-line errors with exit code 2 before any file, run directories and
interrupts."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from absl import app, flags

from launch import common

ROOT = Path(__file__).resolve().parents[2]
FAKE_CONFIG = ROOT / "tests" / "launch" / "fake_config.py"


def _launch(cwd: Path, *args: str, data: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NASJAX_DATA": str(data or cwd / "data")}
    return subprocess.run([sys.executable, "-m", "tests.launch.fake_launch", *args], cwd=cwd,
                          env=env, capture_output=True, text=True, timeout=120, check=False)


def test_packaged_config_is_absolute():
    path = Path(common.packaged_config("search"))
    assert path.is_absolute() and path == ROOT / "nasjax" / "configs" / "search.py"
    with pytest.raises(FileNotFoundError, match="no config module"):
        common.packaged_config("bogus")


def test_path_flag_refuses_an_empty_or_missing_path(tmp_path):
    values = flags.FlagValues()
    source = flags.DEFINE_string("source", None, "input", flag_values=values)
    values(["prog"])
    assert common.path_flag(source) is None
    values(["prog", "--source="])
    with pytest.raises(app.UsageError, match="^--source is empty; give a path or leave it out$"):
        common.path_flag(source)
    values(["prog", f"--source={tmp_path}/absent.tfrecord"])
    with pytest.raises(app.UsageError, match="absent.tfrecord: no such file$"):
        common.path_flag(source)
    values(["prog", f"--source={tmp_path}"])
    assert common.path_flag(source, kind="dir") == tmp_path


def test_the_packaged_config_is_the_default_from_any_directory(tmp_path):
    result = _launch(tmp_path, "--workdir=run")
    assert result.returncode == 0, result.stderr
    assert json.loads((tmp_path / "run" / "config.json").read_text())["num_trials"] == 3
    result = _launch(tmp_path, f"--config={FAKE_CONFIG}:big", "--config.budget=7",
                     "--workdir=big")
    config = json.loads((tmp_path / "big" / "config.json").read_text())
    assert (config["num_trials"], config["budget"]) == (300, 7)


def test_help_lists_flags_presets_and_every_field_and_exits_0(tmp_path):
    result = _launch(tmp_path, "--help")
    assert result.returncode == 0 and result.stderr == ""
    lines = result.stdout.splitlines()
    assert lines[0].startswith("A tiny launch script for tests/launch/test_common.py")
    assert "  --workdir: Run directory (default runs/fake-<time>); it must be empty or" in lines
    assert any(line.startswith("  --[no]overwrite: Replace a non-empty --workdir")
               for line in lines)
    assert "presets (--config=:PRESET, or PATH:PRESET): default, big" in lines
    assert "  num_trials = 3  (a positive integer; independent trials)" in lines
    assert "  inner.rate = 0.5  (a number in (0, 1]; a learning rate)" in lines
    assert ("  algorithms = 'random_search'  (a non-empty comma-separated list of algorithm "
            "names; Comma-separated algorithm names.)") in lines
    big = _launch(tmp_path, f"--config={FAKE_CONFIG}:big", "-h")
    assert big.returncode == 0 and "  num_trials = 300  (a positive integer; independent " \
        "trials)" in big.stdout.splitlines()


def test_help_of_a_launch_without_config_exits_0(tmp_path):
    result = subprocess.run(
        [sys.executable, "-c", "from launch import common; common.run_main(print)", "--help"],
        cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True,
        text=True, timeout=60, check=False)
    assert result.returncode == 0 and "flags:" in result.stdout.splitlines()


@pytest.mark.parametrize("args, message", [
    (["--config.num_trials=0"], "config.num_trials = 0: must be a positive integer"),
    (["--config.algorithms="], ("config.algorithms = '': must be a non-empty comma-separated "
                                "list of algorithm names (local_search, random_search)")),
    (["--config.num_trial=1"], ("--config.num_trial=1: unknown config field 'num_trial' (did "
                                "you mean 'num_trials'?); --help lists the fields")),
    (["--config.inner.foo=2"], ("--config.inner.foo=2: unknown config field 'inner.foo' (did "
                                "you mean 'inner.rate'?); --help lists the fields")),
    (["--config.inner=3"], ("--config.inner=3: 'inner' is a group of fields (inner.rate); set "
                            "them one by one, e.g. --config.inner.rate=...")),
    (["--config.num_trials=abc"], ("flag --config.num_trials=abc: invalid literal for int() "
                                   "with base 10: 'abc'")),
    (["--config="], "--config is empty; give a config file, e.g. configs/search.py"),
    ([f"--config={FAKE_CONFIG}:bogus"], (f"--config={FAKE_CONFIG}:bogus: unknown preset "
                                         "'bogus'; choose one of: default, big")),
    (["--nosuchflag"], "Unknown command line flag 'nosuchflag'"),
    (["--data_dir="], ("the data directory given is empty; pass a directory, or leave it unset "
                       "for $NASJAX_DATA or ~/.cache/nasjax")),
    (["--config.inner.rate=None"], "config.inner.rate = None: must be a number in (0, 1]"),
])
@pytest.mark.slow  # ~18 CPU-s of its own: out of the fast lane
def test_bad_command_lines_give_one_line_and_exit_2_before_any_file(tmp_path, args, message):
    result = _launch(tmp_path, "--workdir=run", *args)
    assert (result.returncode, result.stderr) == (2, f"error: {message}\n")
    assert list(tmp_path.iterdir()) == []


# A refused launch reports in about a second: what only a run needs (figures, statistics,
# checkpoints) is imported when the run gets there.
_REFUSED = """
import atexit, runpy, sys
atexit.register(lambda: print("imported:", [m for m in {heavy} if m in sys.modules]))
sys.argv = ["{job}", "--config.seed=-1", "--workdir=run"]
runpy.run_module("nasjax.launch.{job}", run_name="__main__")
"""


@pytest.mark.parametrize("job, heavy", [
    ("search", ("scipy", "matplotlib")),
    ("evaluate", ("scipy", "matplotlib", "orbax.checkpoint")),
    ("train_apex", ("scipy", "matplotlib")),
])
def test_a_launch_refused_on_its_config_imports_nothing_only_a_run_needs(tmp_path, job, heavy):
    code = _REFUSED.format(job=job, heavy=heavy)
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                            text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 2 and "config.seed = -1" in result.stderr, result.stderr
    assert result.stdout == "imported: []\n"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("args, shaping", [
    (["--config.shaping=None"], None),
    (["--config.shaping=3.0", "--config.shaping=none"], None),
    (["--config.shaping=None", "--config.shaping=3.0"], 3.0),  # the last override wins
])
def test_none_overrides_a_field_whose_rule_allows_it(tmp_path, args, shaping):
    result = _launch(tmp_path, "--workdir=run", *args)
    assert result.returncode == 0, result.stderr
    assert json.loads((tmp_path / "run" / "config.json").read_text())["shaping"] == shaping


def test_an_unusable_data_dir_gives_one_line(tmp_path):
    (tmp_path / "file").write_text("x")
    result = _launch(tmp_path, "--workdir=run", data=tmp_path / "file")
    assert result.returncode == 2
    assert result.stderr == (f"error: {tmp_path}/file is not a directory; choose a directory "
                             "($NASJAX_DATA or --data_dir)\n")


@pytest.mark.slow  # ~5 CPU-s of its own: out of the fast lane
def test_a_non_empty_workdir_needs_overwrite(tmp_path):
    assert _launch(tmp_path, "--workdir=run").returncode == 0
    result = _launch(tmp_path, "--workdir=run", "--config.num_trials=5")
    assert result.returncode == 2
    assert result.stderr.startswith(f"error: --workdir {tmp_path}/run is not empty (it holds "
                                    "config.json, summary.json); pass --overwrite")
    result = _launch(tmp_path, "--workdir=run", "--config.num_trials=5", "--overwrite")
    assert result.returncode == 0
    assert json.loads((tmp_path / "run" / "summary.json").read_text()) == {"num_trials": 5}


def test_an_interrupt_gives_one_line_and_exit_130(tmp_path):
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.launch.fake_launch", "--workdir=run", "--config.wait=True"],
        cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(ROOT),
                           "NASJAX_DATA": str(tmp_path / "data")},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert process.stdout.readline() == "waiting\n"
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130
    assert err == (f"interrupted by SIGINT after 0 s; partial results kept in "
                   f"{tmp_path}/run.partial\n")
    assert not (tmp_path / "run").exists()


def _waiting(cwd: Path, *args: str) -> subprocess.Popen:
    """A fake launch that holds its run directory until interrupted."""
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.launch.fake_launch", "--config.wait=True", *args],
        cwd=cwd, env={**os.environ, "PYTHONPATH": str(ROOT), "NASJAX_DATA": str(cwd / "data")},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert process.stdout.readline() == "waiting\n"
    return process


@pytest.mark.slow  # 3 launches, one waiting for the others (~10 CPU-s)
def test_a_live_run_directory_is_refused_even_with_overwrite(tmp_path):
    first = _waiting(tmp_path, "--workdir=run")
    try:
        for args in ([], ["--overwrite"]):
            result = _launch(tmp_path, "--workdir=run", *args)
            assert result.returncode == 2
            assert result.stderr.startswith(f"error: --workdir {tmp_path}/run is in use by pid "
                                            f"{first.pid} on {socket.gethostname()} (since ")
            assert result.stderr.count("\n") == 1
        assert (tmp_path / "run.partial" / "config.json").is_file()  # the live run's staging
    finally:
        first.send_signal(signal.SIGINT)
        first.communicate(timeout=60)
    assert first.returncode == 130 and not (tmp_path / "run.lock").exists()
    result = _launch(tmp_path, "--workdir=run", "--overwrite")  # released: it may go on now
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "run"]


def test_a_stale_lock_is_taken_over_with_one_line(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    pid = int(dead.stdout)
    lock = tmp_path / "run.lock"
    lock.write_text(json.dumps({"pid": pid, "host": socket.gethostname(),
                                "started": "2026-01-01 00:00:00"}))
    result = _launch(tmp_path, "--workdir=run")
    assert result.returncode == 0
    assert result.stderr == (f"taking over the stale lock {lock} of pid {pid} on "
                             f"{socket.gethostname()} (no longer running)\n")
    assert not lock.exists() and (tmp_path / "run" / "summary.json").is_file()


def test_a_lock_of_another_host_or_unreadable_is_refused(tmp_path):
    lock = tmp_path / "run.lock"
    lock.write_text(json.dumps({"pid": 1, "host": "elsewhere", "started": "then"}))
    result = _launch(tmp_path, "--workdir=run", "--overwrite")
    assert (result.returncode, result.stderr) == (
        2, f"error: --workdir {tmp_path}/run is in use by pid 1 on elsewhere (since then; lock "
           f"{lock}); wait for that run to end or stop it, or pick another --workdir\n")
    lock.write_text("garbage")
    result = _launch(tmp_path, "--workdir=run")
    assert result.returncode == 2 and "has an unreadable lock" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "run.lock"]


def test_a_config_file_of_another_launch_is_one_line(tmp_path):
    result = _launch(tmp_path, "--workdir=run", f"--config={ROOT / 'configs' / 'apex.py'}")
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert result.stderr.startswith(f"error: --config={ROOT / 'configs' / 'apex.py'} is not a "
                                    "config of this launch (it lacks algorithms, budget, "
                                    "budgets, ...; it has ")
    assert result.stderr.endswith(f"use {FAKE_CONFIG} or a copy of it\n")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name, command", [
    ("nb101", "python -m nasjax.launch.prepare_data --benchmark=nb101 --source=PATH/"
              "nasbench_only108.tfrecord"),
    ("nb301", "python -m nasjax.launch.prepare_data --benchmark=nb301 --source=PATH/nb_models/"
              "xgb_v1.0"),
])
@pytest.mark.slow  # ~10 CPU-s of its own: out of the fast lane
def test_an_official_benchmark_not_converted_names_the_command_and_writes_nothing(
        tmp_path, name, command):
    result = subprocess.run(
        [sys.executable, "-m", "launch.search", f"--config.benchmark={name}",
         f"--workdir={tmp_path / 'run'}"], cwd=tmp_path, capture_output=True, text=True,
        timeout=300, env={**os.environ, "PYTHONPATH": str(ROOT),
                          "NASJAX_DATA": str(tmp_path / "data"), "JAX_PLATFORMS": "cpu"})
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("error: ") and command in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]


def test_a_signal_while_a_launch_imports_is_one_line_and_exit_130(tmp_path):
    # As `python -m launch.<name>` does: the package is imported with argv[0] == "-m"; then
    # the signal arrives during the (seconds-long) imports of the script.
    program = ("import sys; sys.argv[0] = '-m'; import launch, os, signal; sys.argv[0] = 'x'; "
               "os.kill(os.getpid(), signal.SIGINT); import time; time.sleep(30)")
    result = subprocess.run([sys.executable, "-c", program], cwd=tmp_path, capture_output=True,
                            text=True, timeout=60, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert (result.returncode, result.stderr) == (
        130, "interrupted by SIGINT while starting; no output was written\n")


def test_a_library_import_of_launch_keeps_the_default_sigint_handler():
    # Python's own handler first: a child inherits SIG_IGN from an xdist worker, which ignores
    # SIGINT (the controller handles Ctrl-C).
    program = ("import signal; signal.signal(signal.SIGINT, signal.default_int_handler); "
               "import launch, nasjax.launch; "
               "assert signal.getsignal(signal.SIGINT) is signal.default_int_handler")
    result = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True,
                            timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, result.stderr


def test_no_backend_probe_line_precedes_a_one_line_error(tmp_path):
    program = ("import jax; from launch import common\n"
               "def main(argv):\n"
               "    jax.devices()  # probes every platform, tpu included\n"
               "    raise common.ConfigError('the one line')\n"
               "common.run_main(main)\n")
    env = {key: value for key, value in os.environ.items() if key != "JAX_PLATFORMS"}
    result = subprocess.run([sys.executable, "-c", program], cwd=tmp_path, capture_output=True,
                            text=True, timeout=120, env={**env, "PYTHONPATH": str(ROOT)})
    assert (result.returncode, result.stderr) == (2, "error: the one line\n")
