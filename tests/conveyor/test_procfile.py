"""``conveyor.procfile``: honcho's output passed through, and the summary when a process failed first."""

from __future__ import annotations

import io
import sys
from pathlib import Path

from conveyor.procfile import Summary, run_procfile

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
