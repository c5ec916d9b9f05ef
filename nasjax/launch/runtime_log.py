"""The console of a multi-process run: the distributed runtime's own lines left out, its fatal
errors turned into one line naming the problem.

JAX's runtime (XLA's coordination service, gloo) writes from C++ to the process's descriptors:
log lines, ``[Gloo] Rank 0 is connected to 1 peer ranks`` and, when a process cannot join or
another one is gone, a fatal log line and a stack trace before it aborts the process (SIGABRT),
which Python cannot catch: a duplicate ``--process_id``, processes missing at start, a peer that
stops sending heartbeats. :func:`install` points descriptors 1 and 2 through a small filter
process (this file, run by path with the standard library alone, so it outlives the abort) that
passes every other line through, leaves those out and, when the process dies of one, prints
one line of ours instead (:func:`explain`). ``--runtime_log`` keeps the runtime's lines.
"""

from __future__ import annotations

import json
import os
import re
import selectors
import signal
import subprocess
import sys
import time

# A glog/absl log line: severity, date, time, thread, file:line]
RECORD = re.compile(r"^[IWEF]\d{4} \d\d:\d\d:\d\d\.\d+ +\d+ [\w.-]+:\d+\] ")
OTHER = re.compile(r"^(\[Gloo\] |\*\*\* Check failure stack trace|terminate called after|"
                   r"  what\(\):|\s+@\s+0x)")
# where a runtime line starts inside a line of ours (a progress bar without its end of line)
INSIDE = re.compile(r"[IWEF]\d{4} \d\d:\d\d:\d\d\.\d+ +\d+ [\w.-]+:\d+\] |\[Gloo\] |"
                    r"\*\*\* Check failure stack trace|terminate called after")
FATAL = re.compile(r"^(F\d{4} |terminate called after|\*\*\* Check failure)")
OURS = "error: "  # a line of ours about the same failure: it stays the one line
CHUNK = 65536
HOLD_SECONDS = 10.0  # lines held after an error record are written if no fatal one follows


def is_runtime_line(line: str) -> bool:
    """Whether ``line`` was written by the runtime (a log record, gloo, a crash report)."""
    return bool(RECORD.match(line) or OTHER.match(line))


def lost_line(me: int | None, count: int | None, who: str, why: str) -> str:
    """The one line of a process that lost another: stopped, nothing written as complete."""
    return (f"error: {_process(me, count)} lost {who} ({why}); stopped, nothing written as "
            "complete: rerun the same command on every host")


def explain(text: str, me: int | None, count: int | None, coordinator: str | None,
            timeout: int) -> str:
    """One line for the runtime's fatal report ``text`` (its log records and crash report) of
    process ``me`` of ``count``, whose coordinator is ``coordinator`` and initialization timeout
    ``timeout`` seconds."""
    status = _status(text)
    who = _process(me, count)
    duplicate = re.search(r"(\d+) unexpectedly tried to connect", text)
    if duplicate:
        return (f"error: {who}: two processes started with --process_id={duplicate[1]}; give "
                "each process its own id and rerun every process")
    unexpected = re.search(r"Unexpected task registered with task=(\d+)", text)
    if unexpected:
        return (f"error: {who}: the coordinator does not expect a process {unexpected[1]} "
                "(it runs fewer processes); give every process the same --num_processes")
    if "stopped sending heartbeats" in text:
        listed = re.search(r"stopped sending heartbeats\):\s*\n([\d,\s]+?)\n", text)
        ids = [int(word) for word in re.findall(r"\d+", listed[1] if listed else "")
               if int(word) != me]
        if not ids and count == 2 and me is not None:
            ids = [1 - me]
        lost = (f"process {ids[0]}" if len(ids) == 1
                else f"processes {', '.join(map(str, ids))}" if ids else "another process")
        return lost_line(me, count, lost, "it stopped sending heartbeats")
    if "RegisterTask" in text:
        where = f"the coordinator {coordinator}" if coordinator else "the cluster's coordinator"
        every = "every process" if count is None else f"all {count} processes"
        return (f"error: {who}: not {every} joined {where} within {timeout} s ({status}); "
                "start every process with the same --coordinator_address and --num_processes, "
                "each with its own --process_id, or raise --initialization_timeout")
    return f"error: {who}: the distributed runtime stopped the run ({status})"


def _process(me: int | None, count: int | None) -> str:
    return "this process" if me is None else f"process {me} of {count}"


def _status(text: str) -> str:
    """The runtime's status in ``text`` (the fatal record's ``absl::Status: ...``), short."""
    found = re.search(r"absl::Status: ([^\n]*)", text) or re.search(
        r"(?:ABORTED|UNAVAILABLE|DEADLINE_EXCEEDED|INVALID_ARGUMENT|INTERNAL|NOT_FOUND|"
        r"FAILED_PRECONDITION|CANCELLED)[^\n]*", text)
    if found is None:
        return "no status"
    status = found[1] if found.re.groups else found[0]
    return re.sub(r"\s*\[type\.googleapis\.com[^\]]*\]", "", status).strip()[:200]


class Filter:
    """The filter's state over one process's two streams: runtime lines left out and kept for
    :func:`explain`; after an error record of the runtime, the following lines are held (they
    may be the rest of its multi-line message): left out if the process dies of the runtime's
    fatal error, else written at the end or ``HOLD_SECONDS`` later."""

    def __init__(self, me: int | None, count: int | None, coordinator: str | None,
                 timeout: int) -> None:
        self.context = (me, count, coordinator, timeout)
        self.runtime: list[str] = []  # the runtime's lines, for explain()
        self.held: list[tuple[int, str]] = []  # (stream, line) after an error record
        self.holding = False
        self.since = 0.0  # when holding began (time.monotonic)
        self.fatal = False

    def line(self, stream: int, line: str, now: float = 0.0) -> list[tuple[int, str]]:
        """What to write now, as (stream, text), for ``line`` (with its end of line) read from
        ``stream`` (1 or 2) at time ``now``."""
        inside = INSIDE.search(line, 1)
        if inside and not is_runtime_line(line):  # ours, then the runtime's
            return [*self.line(stream, line[:inside.start()], now),
                    *self.line(stream, line[inside.start():], now)]
        if is_runtime_line(line):
            self.runtime.append(line)
            self.fatal = self.fatal or bool(FATAL.match(line))
            if not self.holding and (self.fatal or line[0] == "E" and RECORD.match(line)):
                self.holding, self.since = True, now
            return []
        if self.holding:
            self.held.append((stream, line))
            return []
        return [(stream, line)]

    def release(self, now: float) -> list[tuple[int, str]]:
        """The held lines, when ``HOLD_SECONDS`` have passed since an error record that no
        fatal one followed (the process lives on: they were its own)."""
        if not self.holding or self.fatal or now - self.since < HOLD_SECONDS:
            return []
        held, self.held, self.holding = self.held, [], False
        return held

    def end(self) -> list[tuple[int, str]]:
        """What to write when the process has closed both streams: the held lines, or when it
        died of the runtime's fatal error our own error line if it wrote one, else one line from
        :func:`explain`."""
        held, self.held = self.held, []
        if not self.fatal:
            return held
        ours = [(stream, line) for stream, line in held if line.startswith(OURS)]
        if ours:
            return ours[:1]
        self.runtime.extend(line for _, line in held)
        return [(2, explain("".join(self.runtime), *self.context) + "\n")]


def install(me: int | None, count: int | None, coordinator: str | None,
            timeout: int) -> subprocess.Popen:
    """Points this process's descriptors 1 and 2 through the filter (see the module docstring);
    the filter writes to where they pointed."""
    sys.stdout.flush()
    sys.stderr.flush()
    pipes = [os.pipe(), os.pipe()]  # (read, write) for stdout, stderr
    filter_process = subprocess.Popen(
        [sys.executable, "-I", os.path.abspath(__file__), str(pipes[0][0]), str(pipes[1][0]),
         json.dumps([me, count, coordinator, timeout])],
        pass_fds=(pipes[0][0], pipes[1][0]), stdin=subprocess.DEVNULL, start_new_session=True)
    for target, (read, write) in zip((1, 2), pipes):
        os.close(read)
        os.dup2(write, target)
        os.close(write)
    return filter_process


def run(out: int, err: int, context: list) -> None:
    """The filter process: reads the launch's stdout and stderr until both close."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the launch decides; this reports its end
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    state = Filter(*context)
    ended = {1: True, 2: True}  # whether the last text written to a stream ended its line
    targets = {out: 1, err: 2}
    partial = {out: b"", err: b""}
    selector = selectors.DefaultSelector()
    for fd in targets:
        selector.register(fd, selectors.EVENT_READ)
    while selector.get_map():
        _write(state.release(time.monotonic()), ended)
        for key, _ in selector.select(timeout=HOLD_SECONDS):
            data = os.read(key.fd, CHUNK)
            if not data:
                selector.unregister(key.fd)
                lines, partial[key.fd] = [partial[key.fd]] if partial[key.fd] else [], b""
            else:
                *lines, partial[key.fd] = (partial[key.fd] + data).split(b"\n")
                lines = [line + b"\n" for line in lines]
                if b"\r" in partial[key.fd] and not state.holding:
                    lines.append(partial[key.fd])  # a progress bar redrawing its line
                    partial[key.fd] = b""
            for line in lines:
                _write(state.line(targets[key.fd], line.decode(errors="replace"),
                                  time.monotonic()), ended)
    _write(state.end(), ended)


def _write(pieces: list[tuple[int, str]], ended: dict[int, bool]) -> None:
    """Writes ``(stream, text)`` pieces; an error line goes below an unfinished progress bar."""
    for stream, text in pieces:
        text = "\n" + text if text.startswith(OURS) and not ended[stream] else text
        os.write(stream, text.encode())
        ended[stream] = text.endswith("\n")


if __name__ == "__main__":
    run(int(sys.argv[1]), int(sys.argv[2]), json.loads(sys.argv[3]))
