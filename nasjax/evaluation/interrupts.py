"""Clean stops on SIGINT and SIGTERM for the launch scripts' host loops.

Python's default SIGINT handler raises ``KeyboardInterrupt`` wherever the main thread is. When
that is inside JAX (between the C++ compile or execute call and the Python that called it),
the exception unwinds through JAX's dispatch and the interpreter crashes at exit
(``Fatal Python error: Segmentation fault``, exit -11, after a ``KeyboardInterrupt`` raised
from ``backend.compile_and_load``). Here a signal only records the request; :class:`Interrupted`
is raised where that is safe:

- by the handler itself when no JAX, XLA or other native-library frame is on the stack (plain
  Python: statistics, plots, file writing), and outside :func:`critical` and :func:`deferred`
  sections;
- otherwise at the next :func:`check`, which host loops call between jitted calls, or before
  the next file is put in place (:func:`check_before_write`, called by
  :func:`nasjax.paths.atomic_write`).

A second signal stops at once: a watchdog thread, woken through ``signal.set_wakeup_fd`` even
while the main thread waits inside XLA, runs the :func:`on_abort` callbacks (a run directory
marks itself partial), writes one line and ends the process with ``os._exit`` (no interpreter
teardown, so no crash). The exit code is ``128 + signal number``: 130 for SIGINT, 143 for
SIGTERM.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from types import FrameType

SIGNALS = (signal.SIGINT, signal.SIGTERM)
# Packages whose frames mean "inside a compiled call or a native library": never raise there.
NATIVE_PACKAGES = frozenset({"jax", "jaxlib", "flax", "optax", "orbax", "chex", "rlax",
                             "xgboost"})
NOTICE_SECONDS = 1.0  # a stop that takes longer than this is announced (the chunk is running)
CRITICAL_WAIT_SECONDS = 10.0  # how long a second signal waits for a critical section to end


class Interrupted(BaseException):
    """Raised in the main thread after SIGINT or SIGTERM; not an ``Exception``, so broad
    ``except Exception`` blocks let it through.

    Attributes:
      signum: the signal.
      name: its name, e.g. "SIGINT".
      exit_code: 128 + signum (130 for SIGINT, 143 for SIGTERM).
      kept: what the interrupted run kept, in words (a run directory appends its partial
        directory here while the exception passes).
    """

    def __init__(self, signum: int) -> None:
        self.signum = signum
        self.name = signal.Signals(signum).name
        self.exit_code = 128 + signum
        self.kept: list[str] = []
        super().__init__(f"interrupted by {self.name}")


@dataclasses.dataclass
class _State:
    signum: int | None = None  # first signal received, None when none
    raised: bool = False  # the handler raised Interrupted already
    critical: int = 0  # depth of critical() sections in the main thread
    deferred: int = 0  # depth of deferred() sections in the main thread
    lock: threading.RLock = dataclasses.field(default_factory=threading.RLock)
    callbacks: list = dataclasses.field(default_factory=list)
    notice: threading.Timer | None = None


_state: _State | None = None  # set while handled() is active


def _native(frame: FrameType | None) -> bool:
    """Whether a frame of a NATIVE_PACKAGES module is on the stack."""
    while frame is not None:
        if frame.f_globals.get("__name__", "").partition(".")[0] in NATIVE_PACKAGES:
            return True
        frame = frame.f_back
    return False


def _handler(signum: int, frame: FrameType | None) -> None:
    state = _state
    if state is None:
        return
    if state.signum is None:
        state.signum = signum
    if (not state.raised and state.critical == 0 and state.deferred == 0
            and not _native(frame)):
        state.raised = True
        raise Interrupted(state.signum)


def _write(line: str) -> None:
    """One line to stderr without Python's buffered streams (safe from any thread)."""
    with contextlib.suppress(OSError):
        os.write(2, (line + "\n").encode())


def _abort(state: _State, first: int, second: int) -> None:
    """The second signal: run the abort callbacks, say what was kept, end the process now
    with the first signal's exit code."""
    state.lock.acquire(timeout=CRITICAL_WAIT_SECONDS)
    kept = []
    for callback in list(state.callbacks):
        with contextlib.suppress(Exception):
            kept.append(callback())
    names = [signal.Signals(s).name for s in (first, second)]
    how = f"{names[0]} twice" if first == second else " and ".join(names)
    _write(f"interrupted by {how}: stopped at once; {_describe_kept(kept)}")
    os._exit(128 + first)


def _watch(state: _State, read_fd: int) -> None:
    """Watchdog thread: announces a slow stop and aborts on a second signal."""
    first = None
    while data := os.read(read_fd, 64):
        for signum in data:
            if signum not in SIGNALS:
                continue
            if first is not None:
                _abort(state, first, signum)
            first = signum
            notice = (f"{signal.Signals(signum).name}: stopping after the current step "
                      "(send it again to stop at once)")
            state.notice = threading.Timer(NOTICE_SECONDS, _write, [notice])
            state.notice.daemon = True
            state.notice.start()


def _describe_kept(kept: list[str]) -> str:
    """The "what was kept" part of the stop line."""
    return "; ".join(kept) if kept else "no output was written"


@contextlib.contextmanager
def handled() -> Iterator[None]:
    """Installs the SIGINT/SIGTERM handling for the ``with`` block (main thread only).

    Yields:
      Nothing; :class:`Interrupted` leaves the block like any exception.

    Raises:
      RuntimeError: when already active.
    """
    global _state
    if _state is not None:
        raise RuntimeError("interrupts.handled() is already active")
    state = _State()
    read_fd, write_fd = os.pipe()
    os.set_blocking(write_fd, False)
    previous = {signum: signal.signal(signum, _handler) for signum in SIGNALS}
    previous_fd = signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)
    watchdog = threading.Thread(target=_watch, args=(state, read_fd), name="interrupts",
                                daemon=True)
    _state = state
    watchdog.start()
    try:
        yield
    finally:
        signal.set_wakeup_fd(previous_fd)
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        os.close(write_fd)  # the watchdog reads end-of-file and returns
        watchdog.join()
        os.close(read_fd)
        if state.notice is not None:
            state.notice.cancel()
        _state = None


def requested() -> int | None:
    """The signal received since :func:`handled` began, None when none (or not active)."""
    return None if _state is None else _state.signum


def check() -> None:
    """Raises :class:`Interrupted` when a signal was received: call it between jitted calls.

    Raises:
      Interrupted: when SIGINT or SIGTERM arrived.
    """
    if _state is not None and _state.signum is not None:
        _state.raised = True
        raise Interrupted(_state.signum)


def check_before_write() -> None:
    """:func:`check` before a file is put in place, so that a process told to stop while in a
    long native call (a data build) writes nothing more. It passes inside a :func:`critical`
    section (which completes its writes), outside the main thread, and once
    :class:`Interrupted` was raised (what a stopping run writes: its ``PARTIAL`` marker).

    Raises:
      Interrupted: when SIGINT or SIGTERM arrived and was not raised yet.
    """
    state = _state
    if (state is not None and state.critical == 0 and not state.raised
            and threading.current_thread() is threading.main_thread()):
        check()


@contextlib.contextmanager
def critical() -> Iterator[None]:
    """A section the handler never interrupts and a second signal waits for (up to
    ``CRITICAL_WAIT_SECONDS``): e.g. moving a finished run directory into place."""
    state = _state
    if state is None:
        yield
        return
    with state.lock:
        state.critical += 1
        try:
            yield
        finally:
            state.critical -= 1


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """A section the handler never interrupts, while a second signal still stops at once: e.g.
    a training loop that calls :func:`check` before each chunk and, after one, keeps it where
    :func:`requested` says a stop was asked for."""
    state = _state
    if state is None:
        yield
        return
    state.deferred += 1
    try:
        yield
    finally:
        state.deferred -= 1


def on_abort(callback: Callable[[], str]) -> Callable[[], None]:
    """Registers ``callback`` to run before a second signal ends the process at once.

    Args:
      callback: quick, thread-safe; returns what was kept, in words ("partial results kept in
        DIR.partial").

    Returns:
      A function that unregisters it (no-op when :func:`handled` is not active).
    """
    state = _state
    if state is None:
        return lambda: None
    state.callbacks.append(callback)
    return lambda: callback in state.callbacks and state.callbacks.remove(callback)


@contextlib.contextmanager
def clean_stop() -> Iterator[None]:
    """:func:`handled` for a launch ``main``: an interrupt ends the process with one line on
    stderr ("interrupted by SIGINT after 12 s; partial results kept in DIR.partial") and exit
    code 130 (SIGINT) or 143 (SIGTERM), without a traceback.

    Raises:
      SystemExit: with the signal's exit code, after an interrupt.
    """
    start = time.monotonic()
    try:
        with handled():
            yield
    except Interrupted as error:
        _write(f"interrupted by {error.name} after {time.monotonic() - start:.0f} s; "
               f"{_describe_kept(error.kept)}")
        raise SystemExit(error.exit_code) from None
