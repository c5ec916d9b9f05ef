"""Several processes through JAX's distributed runtime (issue 22): the flags, and 2 local
processes on CPU (gloo collectives, a coordinator on a free localhost port) giving the numbers
of one process."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from nasjax import distributed
from tests.conftest import xla_flags

ROOT = Path(__file__).resolve().parents[2]
TIMINGS = ("seconds", "per_s")  # summary fields that measure time, not results


def free_port() -> int:
    """A localhost port nobody listens on (bound to port 0, then released)."""
    with socket.socket() as sock:
        sock.bind(("localhost", 0))
        return sock.getsockname()[1]


def _env(devices: int = 1, cache: Path | None = None) -> dict:
    """CPU JAX with ``devices`` devices (and a persistent compilation cache when given)."""
    cached = {} if cache is None else {"JAX_COMPILATION_CACHE_DIR": str(cache),
                                       "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0"}
    return {**os.environ, "JAX_PLATFORMS": "cpu", "PYTHONPATH": str(ROOT),
            "XLA_FLAGS": xla_flags(f"--xla_force_host_platform_device_count={devices}"), **cached}


def launch(module: str, args: list[str], processes: int = 1, devices: int = 1,
           extra: tuple[str, ...] = (), cache: Path | None = None) -> list[subprocess.Popen]:
    """``python -m launch.<module> ARGS`` as ``processes`` processes of one run (each with
    ``devices`` CPU devices); ``extra`` goes to every process."""
    if processes == 1:
        commands = [[*args, *extra]]
    else:
        port = free_port()
        commands = [[*args, f"--coordinator_address=localhost:{port}",
                     f"--num_processes={processes}", f"--process_id={index}",
                     "--initialization_timeout=120", *extra] for index in range(processes)]
    return [subprocess.Popen([sys.executable, "-m", f"launch.{module}", *command], cwd=ROOT,
                             env=_env(devices, cache), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True) for command in commands]


def finish(procs: list[subprocess.Popen], timeout: float = 1800) -> list[tuple[int, str, str]]:
    """``(returncode, stdout, stderr)`` of every process."""
    outputs = [proc.communicate(timeout=timeout) for proc in procs]
    return [(proc.returncode, *output) for proc, output in zip(procs, outputs)]


def without_timings(tree):
    """The summary without the fields that measure time."""
    if isinstance(tree, dict):
        return {key: without_timings(value) for key, value in tree.items()
                if not any(word in key for word in TIMINGS)}
    if isinstance(tree, list):
        return [without_timings(value) for value in tree]
    return tree


def assert_same_run(one: Path, many: Path, arrays: tuple[str, ...]) -> None:
    """The same summary (timings aside) and bit-identical arrays."""
    assert without_timings(json.loads((one / "summary.json").read_text())) == without_timings(
        json.loads((many / "summary.json").read_text()))
    for name in arrays:
        with np.load(one / name) as a, np.load(many / name) as b:
            assert sorted(a.files) == sorted(b.files), name
            for key in a.files:
                np.testing.assert_array_equal(a[key], b[key], err_msg=f"{name}:{key}")


# ----------------------------------------------------------------------------- flags


@pytest.mark.parametrize(("settings", "named"), [
    (distributed.Settings(num_processes=2), "--coordinator_address=HOST:PORT"),
    (distributed.Settings("h:1", 2, 2), "--process_id=2"),
    (distributed.Settings("h:1", 2, -1), "--process_id=-1"),
    (distributed.Settings("h", 2, 0), "--coordinator_address=h"),
    (distributed.Settings("h:99999", 2, 0), "--coordinator_address=h:99999"),
    (distributed.Settings("h:1", 0, 0), "--num_processes=0"),
    (distributed.Settings(auto=True, heartbeat_timeout=0), "--heartbeat_timeout"),
])
def test_bad_settings_are_one_line_naming_the_flag(settings, named):
    with pytest.raises(distributed.DistributedError, match=named) as error:
        distributed.check(settings)
    assert "\n" not in str(error.value)


def test_no_flags_is_one_process():
    assert not distributed.Settings().enabled
    distributed.check(distributed.Settings())
    assert distributed.Settings(auto=True).enabled


def test_placing_and_gathering_in_one_process_keeps_the_values():
    import jax

    from nasjax import sharding

    mesh = sharding.mesh(1)
    keys = jax.random.split(jax.random.key(3), 4)
    tree = {"x": np.arange(6.0).reshape(3, 2), "keys": keys}
    placed = distributed.to_global(tree, mesh, jax.sharding.PartitionSpec())
    np.testing.assert_array_equal(distributed.gather(placed["x"]), tree["x"])
    np.testing.assert_array_equal(jax.random.key_data(placed["keys"]), jax.random.key_data(keys))
    abstract = distributed.abstract(tree, jax.sharding.NamedSharding(
        mesh, jax.sharding.PartitionSpec()))
    assert abstract["x"].shape == (3, 2) and abstract["x"].sharding.mesh == mesh
    assert distributed.announce("a-key", "a/path", timeout=1) == "a/path"  # one process: itself
    assert distributed.announce("another-key", None, timeout=1) is None


def test_an_unreachable_coordinator_is_one_line_within_the_timeout():
    start = time.monotonic()
    with pytest.raises(distributed.DistributedError, match="did not answer within 2 s"):
        distributed.wait_for(f"localhost:{free_port()}", 2)
    assert time.monotonic() - start < 10


def test_a_bad_process_id_exits_2_before_any_file(tmp_path):
    workdir = tmp_path / "run"
    result = subprocess.run(
        [sys.executable, "-m", "launch.search", f"--workdir={workdir}",
         "--coordinator_address=localhost:1234", "--num_processes=2", "--process_id=2"],
        cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and "--process_id=2" in result.stderr
    assert not workdir.exists() and not list(tmp_path.iterdir())


def test_a_taken_port_or_a_host_that_does_not_resolve_is_one_line_on_process_0():
    with socket.socket() as taken:
        taken.bind(("localhost", 0))
        taken.listen()
        address = f"localhost:{taken.getsockname()[1]}"
        with pytest.raises(distributed.DistributedError, match="another process 0 or another"):
            distributed.check_coordinator(address)
    distributed.check_coordinator(address)
    with pytest.raises(distributed.DistributedError, match="nohost.invalid does not resolve"):
        distributed.check_coordinator("nohost.invalid:1234")


def processes(ids: list[int], count: int, timeout: int, workdir: Path) -> list[subprocess.Popen]:
    """``launch.prepare_data`` (it never starts: they do not join) as the processes ``ids`` of
    ``count``, with an initialization timeout of ``timeout`` seconds."""
    port = free_port()
    procs = []
    for index in ids:
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "launch.prepare_data", f"--data_dir={workdir}",
             f"--coordinator_address=localhost:{port}", f"--num_processes={count}",
             f"--process_id={index}", f"--initialization_timeout={timeout}"],
            cwd=ROOT, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
        time.sleep(0.5)  # process 0 first
    return procs


@pytest.mark.slow  # JAX's start-up, then the initialization timeout (1 s) and the runtime's 5 s
def test_a_missing_process_is_one_line_within_the_initialization_timeout(tmp_path):
    start = time.monotonic()
    [(code, out, err)] = finish(processes([0], 2, 1, tmp_path / "data"), timeout=120)
    assert code != 0 and out == "" and err.count("\n") == 1, err
    assert err.startswith("error: process 0 of 2: not all 2 processes joined the coordinator")
    assert time.monotonic() - start < 60 and not (tmp_path / "data").exists()


@pytest.mark.slow  # 3 JAX start-ups
def test_a_duplicate_process_id_is_one_line_on_every_process(tmp_path):
    """Process 0 and the first process 1 stop as the coordinator refuses the second process 1,
    which stops at its initialization timeout. When the first two joined before the duplicate
    came, process 0 may have begun its work: its progress bar then stands above the line."""
    results = finish(processes([0, 1, 1], 2, 3, tmp_path / "data"), timeout=120)
    for code, out, err in results:
        *above, last = err.splitlines()
        assert code != 0 and last.startswith("error: ") and err.endswith("\n"), results
        assert all(not line.strip() or "%|" in line for line in above), results  # bars only
    assert results[0][2].splitlines()[-1].startswith(
        "error: process 0 of 2: two processes started with --process_id=1; give each process "
        "its own id")


# ----------------------------------------------------------------------------- 2 processes

SEARCH = ["--config.benchmark=nb101-synthetic", "--config.algorithms=random_search,"
          "regularized_evolution", "--config.num_trials=5", "--config.trials_per_chunk=5",
          "--config.budget=24", "--config.budgets=(8, 16)",
          "--config.regularized_evolution.population_size=6",
          "--config.regularized_evolution.tournament_size=3"]


@pytest.mark.long  # CI time: the killed-process test runs 2 processes in the default run
@pytest.mark.slow  # 3 launches (JAX start-up and compilation each)
def test_a_search_sweep_over_two_processes_equals_one(tmp_path, data_dir, synthetic_bench):
    # Every point of the sweep is a whole search run split over the processes; process 0 alone
    # decides which points run, writes their run directories and the comparison.
    args = [*SEARCH, f"--config.data_dir={data_dir}", "--sweep=seed=0,1"]
    one = finish(launch("search", [*args, f"--workdir={tmp_path / 'one'}"]))
    two = finish(launch("search", [*args, f"--workdir={tmp_path / 'two'}"], processes=2))
    assert [code for code, _, _ in one + two] == [0, 0, 0], [err[-2000:] for *_, err in two]
    points = [p["workdir"] for p in json.loads((tmp_path / "one" / "sweep.json").read_text())
              ["points"]]
    assert points == ["seed=0", "seed=1"]
    for point in points:
        assert_same_run(tmp_path / "one" / point, tmp_path / "two" / point, ("results.npz",))
    summaries = [without_timings(json.loads((tmp_path / run / "summary.json").read_text()))
                 for run in ("one", "two")]
    # One process runs the seeds together in one program; two run them one after another (the
    # trials of each point are split over the processes), with the same numbers.
    assert [[entry["together"] for entry in summary.pop("ran")] for summary in summaries] == [
        [True], [False]]
    assert summaries[0] == summaries[1]
    # process 1 wrote nothing and printed one line; the runtime's lines (gloo's) are left out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["one", "two"]
    assert two[1][1:] == (
        "process 1 of 2: done; process 0 gathered the results and wrote the run directory\n", "")
    assert "[Gloo]" not in two[0][1] + two[0][2]


EVALUATE = ["--config=configs/evaluate.py:quick", "--config.benchmark=nb101-synthetic",
            "--config.agents=random_walk,local_search", "--config.episodes_per_set=150",
            "--config.episodes_per_chunk=150", "--config.correlation_samples=200",
            "--config.gof_max_samples=50"]


@pytest.mark.long  # CI time: the killed-process test runs 2 processes in the default run
@pytest.mark.slow  # 3 launches (JAX start-up and compilation each)
def test_evaluate_over_two_processes_equals_one(tmp_path, data_dir, synthetic_bench,
                                                full_neighbour_table):
    args = [*EVALUATE, f"--config.data_dir={data_dir}"]
    one = finish(launch("evaluate", [*args, f"--workdir={tmp_path / 'one'}"]))
    two = finish(launch("evaluate", [*args, f"--workdir={tmp_path / 'two'}"], processes=2))
    assert [code for code, _, _ in one + two] == [0, 0, 0], [err[-2000:] for *_, err in two]
    assert_same_run(tmp_path / "one", tmp_path / "two",
                    ("episodes.npz", "curves.npz", "initial_states.npz"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["one", "two"]


APEX = ["--config=configs/apex.py:smoke", "--config.devices=2"]


@pytest.mark.long
@pytest.mark.slow  # 3 Ape-X smoke launches, then 2 resumed ones
def test_apex_two_processes_of_one_device_equal_one_process_of_two(tmp_path, data_dir,
                                                                   synthetic_bench,
                                                                   full_neighbour_table):
    args = [*APEX, f"--config.data_dir={data_dir}"]
    one, two, cache = tmp_path / "one", tmp_path / "two", tmp_path / "jax_cache"
    runs = launch("train_apex", [*args, f"--workdir={one}"], devices=2, cache=cache) + launch(
        "train_apex", [*args, f"--workdir={two}", "--max_chunks=1"], processes=2, cache=cache)
    assert [code for code, _, _ in finish(runs)] == [0, 0, 0]
    assert (two / "PARTIAL").is_file() and not (two / "summary.json").exists()
    refused = finish(launch("train_apex", [*args, f"--workdir={two}"], devices=2, cache=cache))[0]
    assert refused[0] == 2 and refused[2].count("\n") == 1
    assert "holds checkpoints of 2 process(es), not 1" in refused[2]
    resumed = finish(launch("train_apex", [*args, f"--workdir={two}"], processes=2,
                            cache=cache))
    assert [code for code, _, _ in resumed] == [0, 0], resumed[0][2][-2000:]
    digests = [json.loads((run / "summary.json").read_text())["final_params_sha256"]
               for run in (one, two)]
    assert digests[0] == digests[1]
    assert json.loads((two / "summary.json").read_text())["resumed_at_chunks"] == [1]


@pytest.mark.slow  # 2 evaluation processes, one killed
def test_a_killed_process_stops_the_other_naming_it(tmp_path, data_dir, full_neighbour_table,
                                                    monkeypatch):
    """Process 0 stops at its next exchange (exit 1) or, while it computes, when process 1
    misses its heartbeats (the runtime aborts it: SIGABRT); either way within the heartbeat,
    with one line naming process 1, leaving nothing that looks complete."""
    workdir = tmp_path / "run"
    args = ["--config=configs/evaluate.py:quick", "--config.agents=random_walk",
            "--config.agent_seeds=40", f"--config.data_dir={data_dir}", f"--workdir={workdir}"]
    scratch = tmp_path / "tmp"  # the killed process cannot remove its scratch run directory
    scratch.mkdir()
    monkeypatch.setenv("TMPDIR", str(scratch))
    procs = launch("evaluate", args, processes=2, extra=("--heartbeat_timeout=30",))
    marker = workdir.with_name("run.partial") / "PARTIAL"
    deadline = time.monotonic() + 600
    while not marker.is_file() and time.monotonic() < deadline:  # process 0 is running
        time.sleep(1)
    time.sleep(5)
    procs[1].kill()
    killed = time.monotonic()
    code, _, err = finish(procs[:1], timeout=300)[0]
    seconds = time.monotonic() - killed
    procs[1].communicate()
    last = err.rstrip("\n").split("\n")[-1]  # below the progress bar
    assert code != 0 and last.startswith("error: process 0 of 2 lost process 1 ("), err[-3000:]
    assert err.count("error:") == 1 and "Check failure" not in err and " client.h:" not in err
    assert seconds < 30 + 15  # the heartbeat timeout, and the runtime's polling
    assert not workdir.exists() and marker.is_file()
    # Process 1's scratch run (if it got that far) is left in the test's TMPDIR, not in /tmp.
    assert {p.name for p in scratch.glob("nasjax-process-*/*")} <= {"run.partial"}
