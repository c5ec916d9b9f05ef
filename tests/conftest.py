"""Shared fixtures: the real 1,000-cell fixture and a session-wide data directory."""

from __future__ import annotations

import contextlib
import fcntl
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import jax
import numpy as np
import pytest

from nasjax.spaces import nb101

# JAX's persistent compilation cache, shared by the pytest-xdist workers and every launch a test
# starts (they inherit the environment): a program compiled once in the session is read back
# elsewhere instead of compiled again. Fresh for each session unless JAX_COMPILATION_CACHE_DIR is
# set; compilations under the threshold are not worth a file.
COMPILE_CACHE_ENV = "JAX_COMPILATION_CACHE_DIR"
COMPILE_CACHE_MIN_SECONDS = "0.2"
# A launch that drops that variable compiles without a cache rather than into the user's
# (nasjax.launch.compile_cache), unless the caller names one.
os.environ.setdefault("NASJAX_COMPILATION_CACHE", "off")
# The data directory of the session, set the same way: a test or launch that names no data
# directory must not read or fill the user's ~/.cache/nasjax (where a missing table would be
# built in the middle of a test).
DATA_ENV = "NASJAX_DATA"
_OWN_DIRS = pytest.StashKey[list]()  # the variables whose directories this session created
# XLA's code generation made cheap for the session, its workers and every launch a test starts:
# LLVM at -O0 and XLA's older elemental emitters instead of its fusion emitters (each setting
# unless the caller's XLA_FLAGS name it). Compiling is most of the suite's time, and these
# compile in a third of it (docs/test-suite.md). The programs are the same HLO, less optimised
# as machine code, so floating-point results may differ in their last bits from the default
# build's (FMA contraction, other code for exp or tanh); every number a test compares is
# computed in the session. Work that runs compiled code for long asks for the default build:
# the neighbour table is built by a prepare_data process with the caller's flags
# (:func:`prepare_data`), and a whole-space sweep jits with ``compiler_options=OPTIMISED``.
XLA_FLAGS_ENV = "XLA_FLAGS"
SESSION_XLA_FLAGS = {"xla_backend_optimization_level": "0", "xla_cpu_use_fusion_emitters": "false"}
OPTIMISED = {"xla_backend_optimization_level": 3, "xla_cpu_use_fusion_emitters": True}  # defaults

# XGBoost fits in tests: idle OpenMP threads sleep instead of spinning (on a busy 2-core machine
# spinning made fits ~100x slower); the trees are the same.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
FIXTURES = Path(__file__).parent / "fixtures"

# NASJAX_TEST_PROFILE=FILE appends one tab-separated line per test to FILE: its CPU seconds
# (this process, plus the launches it waited for), and XLA's compilations (count, seconds) and
# persistent-cache hits, setup and teardown included. CPU time and compile counts stay
# comparable on a loaded machine where wall clock does not.
PROFILE_ENV = "NASJAX_TEST_PROFILE"
_COMPILE_EVENT = "/jax/core/compile/backend_compile_duration"
_CACHE_HIT_EVENT = "/jax/compilation_cache/cache_retrieval_time_sec"
_compiles = {"count": 0, "seconds": 0.0, "hits": 0}


def _count_compiles(event: str, duration: float, **_) -> None:
    if event == _COMPILE_EVENT:
        _compiles["count"] += 1
        _compiles["seconds"] += duration
    elif event == _CACHE_HIT_EVENT:
        _compiles["hits"] += 1


def _cpu_seconds() -> float:
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    """Records the test's CPU seconds and compilations when NASJAX_TEST_PROFILE is set."""
    path = os.environ.get(PROFILE_ENV)
    if not path:
        yield
        return
    before, cpu, wall = dict(_compiles), _cpu_seconds(), time.perf_counter()
    yield
    after = _compiles
    row = (item.nodeid, f"{_cpu_seconds() - cpu:.1f}", f"{time.perf_counter() - wall:.1f}",
           str(after["count"] - before["count"]), f"{after['seconds'] - before['seconds']:.1f}",
           str(after["hits"] - before["hits"]))
    with open(path, "a") as handle:
        handle.write("\t".join(row) + "\n")


# The files that cost the most on 2 cores (NASJAX_TEST_PROFILE of a whole run from an empty data
# directory), started first and in this order (pyproject's --no-loadscope-reorder keeps it), so
# that no pytest-xdist worker ends the session alone with one of them. The first two need
# different caches: test_env builds the neighbour table while test_sharding needs none. The
# other files follow in collection order.
FIRST_FILES = (
    "tests/test_env.py",
    "tests/test_sharding.py",
    "tests/test_conformance.py",
    "tests/launch/test_train_apex.py",
    "tests/evaluation/test_episodes.py",
    "tests/agents/test_remaade.py",
    "tests/agents/apex/test_train.py",
    "tests/agents/test_regularized_evolution.py",
    "tests/spaces/test_neighbours.py",
    "tests/launch/test_search.py",
    "tests/agents/test_duplicates.py",
    "tests/launch/test_evaluate.py",
    "tests/launch/test_common.py",
    "tests/launch/test_distributed.py",
    "tests/launch/test_sweep.py",
)


def pytest_collection_modifyitems(config, items):
    """Puts :data:`FIRST_FILES` first (a stable sort: each file's tests keep their order)."""
    missing = [path for path in FIRST_FILES if not (config.rootpath / path).is_file()]
    if missing:
        raise pytest.UsageError(f"tests/conftest.py FIRST_FILES names no file at {missing}")
    rank = {path: index for index, path in enumerate(FIRST_FILES)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::")[0], len(FIRST_FILES)))


def pytest_configure(config):
    """Creates the session's data directory and compilation cache where the caller set none
    (in the controller, before workers start: they and the launches inherit the variables)."""
    if not hasattr(config, "workerinput"):
        for variable, prefix in ((DATA_ENV, "nasjax-data-"),
                                 (COMPILE_CACHE_ENV, "nasjax-jax-cache-")):
            if not os.environ.get(variable):
                os.environ[variable] = tempfile.mkdtemp(prefix=prefix)
                config.stash.setdefault(_OWN_DIRS, []).append(variable)
        if COMPILE_CACHE_ENV in config.stash.get(_OWN_DIRS, []):
            os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = COMPILE_CACHE_MIN_SECONDS
        caller = {_flag_name(flag) for flag in os.environ.get(XLA_FLAGS_ENV, "").split()}
        os.environ[XLA_FLAGS_ENV] = xla_flags(*(
            f"--{name}={value}" for name, value in SESSION_XLA_FLAGS.items() if name not in caller))
    path = os.environ.get(COMPILE_CACHE_ENV)
    if os.environ.get(PROFILE_ENV):
        jax.monitoring.register_event_duration_secs_listener(_count_compiles)
    if path:  # this process imported jax before the variables were set
        jax.config.update("jax_compilation_cache_dir", path)
        jax.config.update("jax_persistent_cache_min_compile_time_secs",
                          float(os.environ.get("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS",
                                               COMPILE_CACHE_MIN_SECONDS)))


def _flag_name(flag: str) -> str:
    """The setting an XLA flag names: ``--name=value`` -> ``name``."""
    return flag.lstrip("-").split("=")[0]


def xla_flags(*flags: str) -> str:
    """The session's XLA_FLAGS followed by ``flags`` (a subprocess with more CPU devices keeps
    the session's code generation)."""
    return " ".join([os.environ.get(XLA_FLAGS_ENV, ""), *flags]).strip()


def pytest_unconfigure(config):
    """Removes the directories this session created."""
    for variable in config.stash.get(_OWN_DIRS, []):
        shutil.rmtree(os.environ.pop(variable), ignore_errors=True)


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The session's data directory, $NASJAX_DATA: the one set by the caller (reuses its
    caches), else a temporary one that :func:`pytest_configure` made for the session. Workers
    and every launch a test starts use it, never ``~/.cache/nasjax``; files are written
    atomically, and the slow builds below hold :func:`build_lock`, so each cache is built
    once."""
    path = Path(os.environ[DATA_ENV])
    path.mkdir(parents=True, exist_ok=True)  # the build locks live in it
    return path


@contextlib.contextmanager
def build_lock(data_dir: Path, cache: str):
    """Serialise the builds of one cache across pytest-xdist workers (one waits, then finds the
    cache); another cache's build does not wait."""
    with open(data_dir / f".build-{cache}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@pytest.fixture(scope="session")
def graphs_1k() -> dict:
    """The first 1,000 real NAS-Bench-101 cells with graphs and official hashes."""
    with np.load(FIXTURES / "nb101_graphs_1k.npz") as data:
        return {key: data[key] for key in data.files}


@pytest.fixture(scope="session")
def real_specs(graphs_1k) -> list[tuple[np.ndarray, list[str], str]]:
    """(matrix, op names, official key) of the 1,000 fixture cells, unpadded."""
    names = {nb101.INPUT: "input", nb101.OUTPUT: "output",
             **{code: name for code, name in enumerate(nb101.OP_NAMES)}}
    specs = []
    for adj, ops, key in zip(graphs_1k["adjacency"], graphs_1k["operations"], graphs_1k["key"]):
        n = int((ops != nb101.PAD).sum())
        specs.append((adj[:n, :n].astype(int), [names[int(o)] for o in ops[:n]], str(key)))
    return specs


# ----------------------------------------------------------------------------- environments


def env_params(space, bench, **overrides):
    """Environment parameters with the paper's settings (``configs/environment.py``), evaluation
    episodes unless ``episode_length`` is given."""
    from configs import environment
    from nasjax import env

    settings = environment.get(space.name)
    defaults = dict(max_neighbours=settings.max_neighbours, alpha=settings.alpha,
                    episode_length=settings.eval_episode_length, query_mode=settings.query_mode)
    return env.make_params(space, bench, **{**defaults, **overrides})


def world_params(world, **overrides):
    """:func:`env_params` of the hand-built world."""
    return env_params(world["space"], world["bench"], **overrides)


def chain(*ops: int) -> nb101.Cell:
    """The cell input -> ops[0] -> ... -> output (a hand-built test cell)."""
    n = len(ops) + 2
    adj = np.zeros((nb101.NUM_VERTICES, nb101.NUM_VERTICES), bool)
    adj[np.arange(n - 1), np.arange(1, n)] = True
    labels = np.full(nb101.NUM_VERTICES, nb101.PAD, np.int8)
    labels[0], labels[1:n - 1], labels[n - 1] = nb101.INPUT, ops, nb101.OUTPUT
    return nb101.Cell(adj=adj, ops=labels)


# A hand-built world of six cells: name -> (cell ops, validation accuracy, neighbour names).
# From "start" the best neighbour is "peak", whose neighbours are all worse: local search
# moves once and stops there.
SMALL_WORLD = {
    "start": ((nb101.CONV3X3,), 0.50, ("b", "c", "peak", "e")),
    "b": ((nb101.CONV1X1,), 0.70, ("start", "peak")),
    "peak": ((nb101.MAXPOOL3X3,), 0.90, ("start", "f", "b")),
    "c": ((nb101.CONV3X3, nb101.CONV3X3), 0.60, ("start", "e")),
    "e": ((nb101.CONV3X3, nb101.CONV1X1), 0.80, ("c", "start", "f")),
    "f": ((nb101.CONV1X1, nb101.CONV1X1), 0.65, ("e", "peak")),
}
TEST_GAP = 0.02  # test accuracy = validation accuracy - TEST_GAP in the small world


@pytest.fixture(scope="session")
def small_world() -> dict:
    """The hand-built world as a benchmark, a neighbour table and the NAS-Bench-101 space with
    that table as its neighbourhood, plus its cells by name."""
    from nasjax.benchmarks import base
    from nasjax.spaces import nb101_space, neighbour_table

    names = list(SMALL_WORLD)
    cells = [chain(*SMALL_WORLD[name][0]) for name in names]
    stacked = nb101.Cell(adj=np.stack([c.adj for c in cells]), ops=np.stack([c.ops for c in cells]))
    val = np.array([SMALL_WORLD[name][1] for name in names])
    bench = base.from_function(stacked, val, test_acc=val - TEST_GAP, name="hand-built")
    lists = [[names.index(other) for other in SMALL_WORLD[name][2]] for name in names]
    table = neighbour_table.from_lists(stacked, lists)
    return {"bench": bench, "table": table, "space": nb101_space.make_space(table),
            "cells": dict(zip(names, cells)), "val": dict(zip(names, val))}


def prepare_data(data_dir: Path, target: str) -> None:
    """Builds ``target``'s caches into ``data_dir`` with ``prepare_data`` in a process compiled
    with XLA's default code generation (the session's makes the neighbour table's build 7 times
    as long): the caller's XLA_FLAGS, less :data:`SESSION_XLA_FLAGS`."""
    flags = " ".join(flag for flag in os.environ.get(XLA_FLAGS_ENV, "").split()
                     if _flag_name(flag) not in SESSION_XLA_FLAGS)
    result = subprocess.run(
        [sys.executable, "-m", "nasjax.launch.prepare_data", f"--benchmark={target}",
         f"--data_dir={data_dir}"], env={**os.environ, XLA_FLAGS_ENV: flags},
        capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]


@pytest.fixture(scope="session")
def full_neighbour_table(data_dir):
    """The precomputed NAS-Bench-101 neighbour table (built once into ``data_dir``; slow)."""
    from nasjax.spaces import neighbour_table

    with build_lock(data_dir, "enumeration"):  # seconds; the launches' SYNTHETIC benchmark
        nb101.load_enumeration(data_dir, progress=False)
    with build_lock(data_dir, "neighbours"):  # a minute, waited for by its users alone
        if not (data_dir / neighbour_table.TABLE_FILE).is_file():
            prepare_data(data_dir, "nb101-neighbours")
        return neighbour_table.load(data_dir, progress=False)


@pytest.fixture(scope="session")
def synthetic_bench(data_dir):
    """The SYNTHETIC full-space benchmark (needs the enumeration; slow without a cache)."""
    from nasjax.benchmarks import synthetic

    with build_lock(data_dir, "enumeration"):
        return synthetic.make(data_dir, progress=False)
