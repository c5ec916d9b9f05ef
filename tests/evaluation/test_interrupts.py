"""Specification of nasjax.evaluation.interrupts: SIGINT/SIGTERM stop a launch at a safe point
with one line and exit code 130/143, a second signal stops at once, nothing looks complete.

The end-to-end tests run tests/evaluation/interrupt_program.py in a subprocess and signal it
during a compilation, during a jitted call and in plain Python.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from nasjax import paths
from nasjax.evaluation import interrupts

PROGRAM = Path(__file__).with_name("interrupt_program.py")
ROOT = Path(__file__).resolve().parents[2]
STEPS_PER_SECOND = 40_000_000  # loop iterations of slow_to_run per second, roughly (2 cores)


# ----------------------------------------------------------------------------- in process


def test_check_is_silent_without_a_signal():
    interrupts.check()  # not active
    with interrupts.handled():
        interrupts.check()
        assert interrupts.requested() is None


def test_a_file_is_not_put_in_place_after_a_deferred_signal(tmp_path):
    # launch.prepare_data: the signal arrives inside a long native build (deferred); the table
    # the build then writes must not appear.
    target = tmp_path / "table.npz"
    with pytest.raises(interrupts.Interrupted) as error, interrupts.handled():
        with interrupts.critical():  # the handler defers, as inside a native call
            signal.raise_signal(signal.SIGINT)
            with paths.atomic_write(tmp_path / "kept.npz") as handle:  # critical: completes
                handle.write(b"kept")
        with paths.verified_write(target) as handle:
            handle.write(b"table")
        pytest.fail("not interrupted")
    assert error.value.exit_code == 130
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kept.npz"]
    with interrupts.handled():
        with pytest.raises(interrupts.Interrupted), interrupts.critical():
            signal.raise_signal(signal.SIGINT)
            interrupts.check()
        with paths.atomic_write(target) as handle:  # once raised, a stopping run may write
            handle.write(b"PARTIAL")
    assert target.read_bytes() == b"PARTIAL"


def test_a_signal_in_plain_python_raises_at_once_with_the_exit_code():
    with pytest.raises(interrupts.Interrupted) as error, interrupts.handled():
        signal.raise_signal(signal.SIGTERM)
        pytest.fail("not interrupted")
    assert (error.value.name, error.value.exit_code, error.value.kept) == ("SIGTERM", 143, [])


def test_a_signal_in_a_critical_section_waits_for_the_next_check():
    with interrupts.handled():
        with interrupts.critical():
            signal.raise_signal(signal.SIGINT)
        assert interrupts.requested() == signal.SIGINT
        with pytest.raises(interrupts.Interrupted, match="interrupted by SIGINT") as error:
            interrupts.check()
    assert error.value.exit_code == 130


def test_a_signal_in_a_deferred_section_lets_it_finish_then_the_next_check_raises():
    # launch.train_apex: a signal during a chunk lets the chunk's result be checkpointed.
    finished = False
    with interrupts.handled():
        with interrupts.deferred():
            signal.raise_signal(signal.SIGINT)
            finished = True
        assert finished and interrupts.requested() == signal.SIGINT
        with pytest.raises(interrupts.Interrupted, match="interrupted by SIGINT"):
            interrupts.check()


def test_handlers_are_restored_afterwards():
    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    with interrupts.handled():
        pass
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before


def test_clean_stop_turns_an_interrupt_into_its_exit_code(capfd):
    with pytest.raises(SystemExit) as stop, interrupts.clean_stop():
        signal.raise_signal(signal.SIGINT)
    assert stop.value.code == 130
    assert capfd.readouterr().err == "interrupted by SIGINT after 0 s; no output was written\n"


# ----------------------------------------------------------------------------- end to end


def _run(phase: str, workdir: Path, marker: str, signals, steps: int, delay: float = 0.3):
    """Starts the program, waits for ``marker`` on its stdout, sends ``signals`` (0.3 s apart).

    Returns:
      (exit code, stdout lines, stderr, seconds from the first signal to the exit).
    """
    process = subprocess.Popen([sys.executable, str(PROGRAM), phase, str(workdir), str(steps)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
                               env={**os.environ, "PYTHONPATH": str(ROOT)})
    lines = []
    for line in process.stdout:
        lines.append(line.strip())
        if lines[-1] == marker:
            break
    time.sleep(delay)
    start = time.monotonic()
    for signum in signals:
        process.send_signal(signum)
        time.sleep(0.3)
    out, err = process.communicate(timeout=120)
    return process.returncode, lines + out.splitlines(), err, time.monotonic() - start


def _assert_partial(workdir: Path, status: str) -> None:
    assert not workdir.exists()
    partial = workdir.with_name(workdir.name + ".partial")
    assert (partial / "PARTIAL").read_text().startswith(f"incomplete run: {status}\n")
    assert not (partial / "summary.json").exists()


def _last_line(err: str) -> str:
    assert "Traceback" not in err and "Fatal" not in err, err
    return err.strip().splitlines()[-1]


def test_sigint_during_compilation_stops_after_it_with_130(tmp_path):
    workdir = tmp_path / "run"
    code, out, err, _ = _run("compile", workdir, "compiling", [signal.SIGINT], steps=1000)
    assert code == 130
    # The signal came during the compilation, and the first check after it stopped the run.
    assert "compiled; signal pending: 2" in out and "chunk 1" not in out
    assert re.fullmatch(rf"interrupted by SIGINT after \d+ s; partial results kept in "
                        rf"{workdir}.partial", _last_line(err))
    _assert_partial(workdir, "interrupted by SIGINT")


def test_sigterm_during_a_jitted_call_stops_at_the_next_check_with_143(tmp_path):
    workdir = tmp_path / "run"
    code, out, err, _ = _run("execute", workdir, "chunk 1", [signal.SIGTERM],
                             steps=STEPS_PER_SECOND)
    assert code == 143 and "chunk 2" not in out
    assert re.fullmatch(rf"interrupted by SIGTERM after \d+ s; partial results kept in "
                        rf"{workdir}.partial", _last_line(err))
    _assert_partial(workdir, "interrupted by SIGTERM")
    assert (workdir.with_name("run.partial") / "results.npz").exists()  # chunk 0 was kept


def test_sigint_in_plain_python_stops_at_once(tmp_path):
    workdir = tmp_path / "run"
    code, _, err, seconds = _run("python", workdir, "python", [signal.SIGINT], steps=1000)
    # The loop never ends by itself, so exit 130 is the signal's doing; the bound only tells
    # "at once" from a stop that waits (the exit and JAX's teardown took 2.3 s at load 9).
    assert code == 130 and seconds < 20.0
    assert _last_line(err).startswith("interrupted by SIGINT after ")
    _assert_partial(workdir, "interrupted by SIGINT")


def test_a_second_signal_stops_a_long_jitted_call_at_once(tmp_path):
    workdir = tmp_path / "run"
    code, _, err, seconds = _run("execute", workdir, "chunk 0", [signal.SIGINT, signal.SIGINT],
                                 steps=40 * STEPS_PER_SECOND, delay=0.5)
    assert code == 130 and seconds < 5.0  # the call alone takes about 40 s
    assert _last_line(err) == (f"interrupted by SIGINT twice: stopped at once; partial results "
                               f"kept in {workdir}.partial")
    _assert_partial(workdir, "stopped at once by a second signal")
