"""``make run``'s process manager: honcho runs the Procfile; this passes its output through and,
when it stops because a process failed, says last which one and why.

honcho stops every process when one exits, and the cause (a traceback of the beat that could
not load ``schedule.yaml``, a ``SyntaxError`` in ``tasks/``) ends up dozens of lines above the
shutdown messages. This keeps the last lines of each process and, when honcho ends with an error
that nobody asked for (not a Ctrl-C or SIGTERM), prints::

    conveyor: make run stopped: beat.1 exited with code 1. Its last lines:
        beat.1 | conveyor.errors.ScheduleError: schedule.yaml: entry 'daily_cleanup', field 'cron': ...

Output goes through a pseudo-terminal when ours is one, so honcho keeps its colours. Signals
are forwarded to honcho once (Celery takes a second SIGINT as a cold shutdown).

Example::

    sys.exit(run_procfile(honcho, "Procfile.dev", env))
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections import defaultdict, deque
from typing import Any, TextIO

__all__ = ["ReadyLine", "Summary", "run_procfile"]

#: Lines kept per process for the summary.
TAIL = 8
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_LINE = re.compile(r"^\d\d:\d\d:\d\d (\S+)\s*\| ?(.*)$")
_STOPPED = re.compile(r"^(\S+) stopped \(rc=(-?\d+)\)$")


class Summary:
    """The last lines of each process of honcho's output, and which one stopped first."""

    def __init__(self, tail: int = TAIL) -> None:
        self.tails: dict[str, deque[str]] = defaultdict(lambda: deque(maxlen=tail))
        self.first_stop: tuple[str, int] | None = None

    def feed(self, line: str) -> None:
        """Read one line of honcho's output (colours and all)."""
        match = _LINE.match(_ANSI.sub("", line).rstrip("\r\n"))
        if match is None:
            return
        name, text = match.groups()
        if name != "system":
            self.tails[name].append(text)
            return
        stopped = _STOPPED.match(text.strip())
        if stopped and self.first_stop is None:
            self.first_stop = (stopped.group(1), int(stopped.group(2)))

    def text(self) -> str | None:
        """The summary, or None when no process stopped on an error first."""
        if self.first_stop is None or self.first_stop[1] == 0:
            return None
        name, code = self.first_stop
        width = max(len(name), 1)
        lines = [f"    {name:<{width}} | {text}" for text in self.tails.get(name, ())] or ["    (it printed nothing)"]
        return f"conveyor: make run stopped: {name} exited with code {code}. Its last lines:\n" + "\n".join(lines)


class ReadyLine:
    """A line printed once, after every process named in ``markers`` printed its marker.

    The processes' banners (the worker's alone is ~40 lines) push what ``make run`` printed at start, the
    Flower address and login, out of sight: it is said again, last, once the service is up.
    """

    def __init__(self, text: str, markers: dict[str, str]) -> None:
        self.text, self.waiting = text, dict(markers)

    def feed(self, line: str) -> str | None:
        """The line to print now (once, when the last marker came), else None."""
        if not self.waiting:
            return None
        match = _LINE.match(_ANSI.sub("", line).rstrip("\r\n"))
        if match is None:
            return None
        process = match.group(1).split(".", 1)[0]  # "worker.1" -> "worker"
        if self.waiting.get(process) is not None and self.waiting[process] in match.group(2):
            del self.waiting[process]
            return None if self.waiting else self.text
        return None


def run_procfile(
    honcho: str, procfile: str, env: dict[str, str], out: TextIO | None = None, ready: ReadyLine | None = None
) -> int:
    """Run ``honcho start -f procfile``; returns honcho's exit code (prints the summary first if any)."""
    out = out or sys.stdout
    reader, writer = _output_channel(out)
    process = subprocess.Popen([honcho, "start", "-f", procfile], env=env, stdout=writer, stderr=writer)
    os.close(writer)
    asked_to_stop = False

    def forward(signum: int, _frame: Any) -> None:
        nonlocal asked_to_stop
        asked_to_stop = True
        if process.poll() is None:
            process.send_signal(signum)

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGINT, signal.SIGTERM)}
    summary = Summary()
    try:
        for line in _lines(reader):
            out.write(line)
            summary.feed(line)
            said = ready.feed(line) if ready is not None else None
            if said is not None:
                out.write(said + "\n")
            out.flush()
        code = process.wait()
    finally:
        os.close(reader)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    text = None if asked_to_stop else summary.text()
    if text is not None:
        out.write(text + "\n")
        out.flush()
    # A stop the user asked for (Ctrl-C, SIGTERM) is a success: honcho's 130 made make print "Error 130".
    return 0 if asked_to_stop else code


def _output_channel(out: TextIO) -> tuple[int, int]:
    # A pseudo-terminal when ours is a terminal (honcho colours only a terminal's output), else a pipe.
    try:
        terminal = out.isatty()
    except (AttributeError, ValueError):
        terminal = False
    if terminal:
        import pty

        return pty.openpty()
    return os.pipe()


def _lines(fd: int) -> Any:
    pending = b""
    while True:
        try:
            chunk = os.read(fd, 65536)
        except InterruptedError:  # a forwarded signal; honcho is still writing
            continue
        except OSError:  # a pseudo-terminal's end once honcho and its processes closed it (EIO)
            chunk = b""
        if not chunk:
            if pending:
                yield pending.decode("utf-8", "replace")
            return
        pending += chunk
        *complete, pending = pending.split(b"\n")
        for line in complete:
            yield line.decode("utf-8", "replace").rstrip("\r") + "\n"
