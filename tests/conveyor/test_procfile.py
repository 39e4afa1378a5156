"""``conveyor.procfile``: honcho's output passed through, and the summary when a process failed first."""

from __future__ import annotations

import io
import os
import signal
import sys
import threading
from pathlib import Path

from conveyor.procfile import ReadyLine, Summary, run_procfile

FAILED_BEAT = """\
16:01:02 system   | worker.1 started (pid=11)
16:01:02 system   | beat.1 started (pid=12)
16:01:03 worker.1 | [INFO/MainProcess] Connected to redis://127.0.0.1:6379/0
16:01:03 beat.1   | Traceback (most recent call last):
16:01:03 beat.1   |   File "schedule.py", line 3, in load
\x1b[33m16:01:03 beat.1   | \x1b[0mScheduleError: schedule.yaml: entry 'x', field 'cron': hour 25 is outside 0-23
16:01:03 system   | beat.1 stopped (rc=1)
16:01:03 system   | sending SIGTERM to worker.1 (pid 11)
16:01:05 worker.1 | worker: Warm shutdown (MainProcess)
16:01:05 system   | worker.1 stopped (rc=-15)
"""


def test_the_summary_names_the_process_that_stopped_first_and_its_last_lines() -> None:
    summary = Summary(tail=2)
    for line in FAILED_BEAT.splitlines(keepends=True):
        summary.feed(line)
    assert summary.text() == (
        "conveyor: make run stopped: beat.1 exited with code 1. Its last lines:\n"
        '    beat.1 |   File "schedule.py", line 3, in load\n'
        "    beat.1 | ScheduleError: schedule.yaml: entry 'x', field 'cron': hour 25 is outside 0-23"
    )


def test_no_summary_when_the_first_process_to_stop_ended_cleanly() -> None:
    summary = Summary()
    summary.feed("16:01:02 system   | flower.1 stopped (rc=0)\n")
    summary.feed("16:01:02 system   | worker.1 stopped (rc=1)\n")
    assert summary.text() is None


def test_run_procfile_passes_the_output_through_and_prints_the_summary_last(tmp_path: Path) -> None:
    # A stand-in for honcho that prints honcho's format and exits like honcho after a failed process.
    fake = tmp_path / "honcho"
    fake.write_text(f"#!{sys.executable}\nimport sys\nsys.stdout.write({FAILED_BEAT!r})\nsys.exit(1)\n")
    fake.chmod(0o755)
    out = io.StringIO()
    assert run_procfile(str(fake), "Procfile", {}, out=out) == 1
    text = out.getvalue()
    assert text.startswith(FAILED_BEAT)
    assert text[len(FAILED_BEAT) :].startswith("conveyor: make run stopped: beat.1 exited with code 1.")
    assert text.rstrip().endswith("hour 25 is outside 0-23")


def test_a_stop_the_user_asked_for_ends_with_0_so_make_prints_no_error(tmp_path: Path) -> None:
    # A stand-in for honcho that exits 130 on SIGINT, as honcho does after stopping its processes
    fake = tmp_path / "honcho"
    fake.write_text(
        f"#!{sys.executable}\nimport signal, sys, time\n"
        "signal.signal(signal.SIGINT, lambda *_: sys.exit(130))\nprint('started', flush=True)\ntime.sleep(60)\n"
    )
    fake.chmod(0o755)

    class Out(io.StringIO):
        def write(self, text: str) -> int:
            if text.startswith("started"):  # honcho runs: the user presses Ctrl-C
                threading.Timer(0.1, os.kill, (os.getpid(), signal.SIGINT)).start()
            return super().write(text)

    out = Out()
    assert run_procfile(str(fake), "Procfile", {}, out=out) == 0
    assert out.getvalue() == "started\n"  # and no summary: nothing failed


def test_the_ready_line_comes_once_after_every_marker_whatever_the_order() -> None:
    ready = ReadyLine(
        "conveyor: ready: Flower at http://127.0.0.1:5555/", {"worker": " ready.", "flower": "Visit me at"}
    )
    lines = [
        "16:01:02 system   | worker.1 started (pid=11)\n",
        "\x1b[36m16:01:03 flower.1 | \x1b[0m[I 201207 16:01:03 command:168] Visit me at http://127.0.0.1:5555\n",
        "16:01:03 beat.1   | beat: Starting...\n",
        "16:01:04 worker.1 | [2026-12-07 16:01:04: INFO/MainProcess] celery@host ready.\n",
        "16:01:09 worker.1 | [2026-12-07 16:01:09: INFO/MainProcess] celery@host ready.\n",  # a restart: said once
    ]
    said = [ready.feed(line) for line in lines]
    assert said == [None, None, None, "conveyor: ready: Flower at http://127.0.0.1:5555/", None]
