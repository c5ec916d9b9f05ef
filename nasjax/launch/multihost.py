"""The flags that run a launch over several processes (hosts), shared by every launch script.

    python -m launch.search --coordinator_address=node001:12345 --num_processes=2 --process_id=0
    python -m launch.search --distributed=auto   # under srun / mpirun / on a TPU slice

The same command runs on every host (its own ``--process_id``); :func:`start` connects them
(:mod:`nasjax.distributed`) before the launch's work. Every process computes its share and
receives the whole result; process 0 alone writes the run directory, the others write into a
scratch directory removed at the end (:func:`run_dir`) and print one line. Without these flags
nothing changes.
"""

from __future__ import annotations

import contextlib
import faulthandler
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

import jax
from absl import flags

from nasjax import distributed
from nasjax.evaluation import report
from nasjax.launch import runtime_log

EXIT_LOST = 1  # another process is gone: the run stopped
DONE = "process 0 gathered the results and wrote the run directory"  # the others' line

_COORDINATOR = flags.DEFINE_string(
    "coordinator_address", None, "HOST:PORT of process 0 (the same on every process): run over "
    "several processes with --num_processes and --process_id.")
_NUM_PROCESSES = flags.DEFINE_integer("num_processes", None, "Processes of a multi-process run.")
_PROCESS_ID = flags.DEFINE_integer("process_id", None, "This process's id, 0..num_processes-1 "
                                   "(process 0 writes the run directory).")
_DISTRIBUTED = flags.DEFINE_enum(
    "distributed", "off", ["off", "auto"], "auto: take the processes from the cluster (SLURM, "
    "Open MPI, TPU) as jax.distributed.initialize() detects them.")
_INITIALIZATION_TIMEOUT = flags.DEFINE_integer(
    "initialization_timeout", distributed.Settings.initialization_timeout,
    "Seconds to wait for every process to connect (multi-process runs).")
_HEARTBEAT_TIMEOUT = flags.DEFINE_integer(
    "heartbeat_timeout", distributed.Settings.heartbeat_timeout,
    "Seconds without a heartbeat after which a process counts as gone and the others stop "
    "(multi-process runs).")
_RUNTIME_LOG = flags.DEFINE_bool(
    "runtime_log", False, "Print the distributed runtime's own log lines and crash reports "
    "(multi-process runs; by default they are left out and a fatal one becomes one line).")


def settings() -> distributed.Settings:
    """The flags' :class:`distributed.Settings`."""
    return distributed.Settings(
        coordinator_address=_COORDINATOR.value, num_processes=_NUM_PROCESSES.value,
        process_id=_PROCESS_ID.value, auto=_DISTRIBUTED.value == "auto",
        initialization_timeout=_INITIALIZATION_TIMEOUT.value,
        heartbeat_timeout=_HEARTBEAT_TIMEOUT.value)


def start() -> None:
    """Connects the processes when the flags ask for several (before JAX touches a device).

    The runtime's preemption notifier takes SIGTERM for itself; the launch's own handling (stop
    cleanly, one line, exit 143) is put back. When the runtime ends the process itself (a
    duplicate ``--process_id``, processes missing at start, or another process that missed its
    heartbeats while this one computed), :mod:`runtime_log` turns its report into one line
    (Python's dump of every thread is switched off, so that report stays the runtime's).
    """
    handler = signal.getsignal(signal.SIGTERM)
    given = settings()
    if given.enabled:
        distributed.check(given)
        faulthandler.disable()
        if not _RUNTIME_LOG.value:
            runtime_log.install(given.process_id, given.num_processes,
                                given.coordinator_address, given.initialization_timeout)
    distributed.initialize(given)
    if handler is not None:
        signal.signal(signal.SIGTERM, handler)


def is_writer() -> bool:
    """Whether this process writes the run directory (process 0, or the only process)."""
    return not settings().enabled or jax.process_index() == 0


@contextlib.contextmanager
def running(done: str = DONE) -> Iterator[None]:
    """The launch's work on this process: process 0 prints as usual, another process prints
    nothing but one line at the end, ``process I of P: done; <done>`` (an error leaving the
    block is still reported by the caller); when the runtime fails (another process is gone),
    one line and exit code 1 at once, the run directory left marked incomplete (``RunDir``
    abandons it on the way out)."""
    if not settings().enabled:
        yield
        return
    try:
        if is_writer():
            yield
        else:
            with (open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink),
                  contextlib.redirect_stderr(sink)):  # progress bars and tables: process 0's
                yield
            print(f"process {jax.process_index()} of {jax.process_count()}: done; {done}")
    except Exception as error:
        if not distributed.is_runtime_failure(error):
            raise
        lost(error)


def lost(error: BaseException) -> NoReturn:
    """One line naming the process that is gone, then exit code 1 without the runtime's exit
    handlers (its shutdown barrier would wait for the missing process)."""
    me, count = jax.process_index(), jax.process_count()
    others = [index for index in range(count) if index != me]
    who = f"process {others[0]}" if len(others) == 1 else "another process"
    first = (str(error).strip().splitlines() or [type(error).__name__])[0][:200]
    sys.stdout.flush()
    stderr_line(runtime_log.lost_line(me, count, who, first))
    sys.stderr.flush()
    os._exit(EXIT_LOST)


class ScratchRunDir(report.RunDir):
    """The run directory of a process other than 0: the launch writes as usual into a scratch
    directory, removed when the run ends (only process 0 writes the real one)."""

    def __init__(self) -> None:
        self._scratch = Path(tempfile.mkdtemp(prefix="nasjax-process-"))
        super().__init__(self._scratch / "run")

    def __exit__(self, kind, error, traceback) -> None:
        try:
            super().__exit__(kind, error, traceback)
        finally:
            shutil.rmtree(self._scratch, ignore_errors=True)


def run_dir(open_writer) -> report.RunDir:
    """``open_writer()`` on process 0 (or a single process), a :class:`ScratchRunDir` on the
    others."""
    return open_writer() if is_writer() else ScratchRunDir()


def stderr_line(message: str) -> None:
    """One line on stderr."""
    sys.stderr.write(" ".join(message.split()) + "\n")
