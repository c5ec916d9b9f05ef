"""The console of a multi-process run (nasjax.launch.runtime_log): the runtime's lines left out,
its fatal reports turned into one line. The reports below are the runtime's own text (jaxlib
0.10.2), cut to the lines that matter."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from nasjax.launch import runtime_log

FILTER = Path(runtime_log.__file__)
FATAL = ("F1206 13:52:16.539646   26339 client.h:80] Terminating process because the JAX "
         "distributed service detected fatal errors. This most likely indicates that another "
         "task died; see the other task logs for more details. absl::Status: {status}\n\n"
         "RPC: /xla.coordination.CoordinationService/{rpc}\n"
         "*** Check failure stack trace: ***\n"
         "    @     0x7f1875e40634  absl::lts_20260107::log_internal::LogMessage::SendToLog()\n")
MISSING = FATAL.format(status="DEADLINE_EXCEEDED: Deadline Exceeded", rpc="RegisterTask")
DUPLICATE = FATAL.format(
    status="ABORTED: 1 unexpectedly tried to connect with a different incarnation. It has likely "
           "restarted.", rpc="PollForError [type.googleapis.com/tensorflow.CoordinationServiceError"
                             "=' \\x01']")
UNEXPECTED = FATAL.format(status="INVALID_ARGUMENT: Unexpected task registered with task=2",
                          rpc="RegisterTask")
HEARTBEATS = (
    "E1206 13:54:58.178274   27889 coordination_service.cc:1549] [11460690195516393137] Use "
    "error polling to propagate the following error to all tasks: UNAVAILABLE: The following "
    "tasks are unhealthy (stopped sending heartbeats):\n1\nThe tasks have crashed. Check the "
    "task logs for an earlier error. [type.googleapis.com/tensorflow.CoordinationServiceError="
    "'']\n" + FATAL.format(status="UNAVAILABLE: The following tasks are unhealthy (stopped "
                           "sending heartbeats):", rpc="PollForError"))


@pytest.mark.parametrize(("text", "me", "line"), [
    (MISSING, 0, "error: process 0 of 2: not all 2 processes joined the coordinator node1:123 "
                 "within 5 s (DEADLINE_EXCEEDED: Deadline Exceeded); start every process"),
    (DUPLICATE, 0, "error: process 0 of 2: two processes started with --process_id=1; give "
                   "each process its own id"),
    (UNEXPECTED, 2, "error: process 2 of 2: the coordinator does not expect a process 2 (it "
                    "runs fewer processes); give every process the same --num_processes"),
    (HEARTBEATS, 0, "error: process 0 of 2 lost process 1 (it stopped sending heartbeats); "
                    "stopped, nothing written as complete"),
    (FATAL.format(status="UNAVAILABLE: The following tasks are unhealthy (stopped sending "
                         "heartbeats):", rpc="PollForError"), 1,
     "error: process 1 of 2 lost process 0 (it stopped sending heartbeats)"),
    (FATAL.format(status="INTERNAL: gone", rpc="X"), 1,
     "error: process 1 of 2: the distributed runtime stopped the run (INTERNAL: gone)"),
])
def test_each_fatal_report_is_one_line_naming_the_problem(text, me, line):
    explained = runtime_log.explain(text, me, 2, "node1:123", 5)
    assert explained.startswith(line) and "\n" not in explained


def test_the_filter_keeps_our_lines_and_leaves_the_runtimes_out():
    state = runtime_log.Filter(1, 2, "node1:123", 5)
    lines = ["I1206 13:53:10.616012 140560191286144 distributed.py:172] Connecting to JAX\n",
             "[Gloo] Rank 1 is connected to 1 peer ranks. Expected number is : 1\n",
             "ours\n", "\r 50%|#####     | progress"]
    assert [piece for line in lines for piece in state.line(1, line)] == [
        (1, "ours\n"), (1, "\r 50%|#####     | progress")]
    assert state.end() == []
    bar = "\r 60%|######    | progress"
    assert state.line(2, bar + MISSING.splitlines(keepends=True)[0]) == [(2, bar)]
    assert state.fatal


def test_after_an_error_record_lines_wait_for_the_end():
    """The lines after the runtime's error record are the rest of its message (dropped if the
    process dies of it) or ours (written at the end if it does not); our own error line about
    the same failure wins over the runtime's."""
    record, *rest = HEARTBEATS.splitlines(keepends=True)[:3]
    state = runtime_log.Filter(0, 2, None, 5)
    assert [state.line(2, line, now=100.0) for line in (record, *rest)] == [[], [], []]
    assert state.release(now=101.0) == []
    assert state.release(now=100.0 + runtime_log.HOLD_SECONDS) == [(2, line) for line in rest]
    assert state.line(2, "ours\n") == [(2, "ours\n")] and state.end() == []  # it lived on

    state = runtime_log.Filter(0, 2, None, 5)
    for line in [*HEARTBEATS.splitlines(keepends=True), "error: process 0 of 2 lost it\n"]:
        assert state.line(2, line) == []
    assert state.end() == [(2, "error: process 0 of 2 lost it\n")]


def test_a_process_killed_by_the_runtime_prints_one_line(tmp_path):
    """The filter process outlives an abort (without JAX: the report is written by hand)."""
    script = (
        "import importlib.util, os, sys\n"
        f"spec = importlib.util.spec_from_file_location('runtime_log', {str(FILTER)!r})\n"
        "module = importlib.util.module_from_spec(spec); spec.loader.exec_module(module)\n"
        "module.install(0, 2, 'localhost:1234', 3)\n"
        "print('a line of ours', flush=True)\n"
        "os.write(1, b'[Gloo] Rank 0 is connected to 1 peer ranks.\\n')\n"
        f"os.write(2, {MISSING.encode()!r})\n"
        "os.abort()\n")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode == -6
    assert result.stdout == "a line of ours\n"
    assert result.stderr.count("\n") == 1 and result.stderr.startswith(
        "error: process 0 of 2: not all 2 processes joined the coordinator localhost:1234 "
        "within 3 s")
