"""``conveyor.watched_process``: make run's worker says when it stopped on its own, and only then."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

from conveyor.watched_process import main, run

PYTHON = sys.executable


def test_a_command_that_fails_on_its_own_is_announced_after_its_output(capfd: object) -> None:
    code = run("worker", [PYTHON, "-c", "import sys; print('ImportError: tasks/broken_job.py'); sys.exit(3)"])
    out = capfd.readouterr().out  # type: ignore[attr-defined]
    assert code == 3
    assert out.splitlines() == [
        "ImportError: tasks/broken_job.py",
        "conveyor: worker stopped (exit code 3): fix what its last lines say; it starts again when a file in "
        "tasks/, app/ or config/ changes",
    ]


def test_a_command_that_ends_well_is_not_announced(capfd: object) -> None:
    assert run("worker", [PYTHON, "-c", "pass"]) == 0
    assert capfd.readouterr().out == ""  # type: ignore[attr-defined]


def test_a_restart_is_passed_on_to_the_command_and_not_announced() -> None:
    # Given the wrapper running a command that reports the signal it gets, as Celery's warm shutdown does
    child = (
        "import signal, sys, time\n"
        "signal.signal(signal.SIGINT, lambda *_: (print('warm shutdown', flush=True), sys.exit(1)))\n"
        "print('ready', flush=True)\n"
        "time.sleep(60)\n"
    )
    wrapper = subprocess.Popen(
        [PYTHON, "-m", "conveyor.watched_process", "worker", "--", PYTHON, "-c", child],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert wrapper.stdout is not None
    assert wrapper.stdout.readline() == "ready\n"
    # When watchfiles restarts it (SIGINT)
    wrapper.send_signal(signal.SIGINT)
    # Then the command got it, and its exit (code 1) is not taken for a failure
    assert wrapper.wait(timeout=30) == 1
    assert wrapper.stdout.read() == "warm shutdown\n"


def test_what_it_watches_is_said_when_given(capfd: object) -> None:
    assert main(["beat", "--watching", "schedule.yaml", "--", PYTHON, "-c", "raise SystemExit(1)"]) == 1
    assert capfd.readouterr().out == (  # type: ignore[attr-defined]
        "conveyor: beat stopped (exit code 1): fix what its last lines say; it starts again when schedule.yaml "
        "changes\n"
    )


def test_a_wrong_invocation_is_one_line(capsys: object) -> None:
    assert main(["worker", "celery"]) == 2
    assert capsys.readouterr().err == (  # type: ignore[attr-defined]
        "usage: python -m conveyor.watched_process NAME [--watching WHAT | --restart-on PATH[:PATH…]] "
        "-- COMMAND [ARGUMENT…]\n"
    )


def test_with_restart_on_a_stopped_command_starts_again_when_its_file_changes(tmp_path: Path) -> None:
    # Given beat's case: a command that refuses to start while its file is invalid
    schedule = tmp_path / "schedule.yaml"
    schedule.write_text("invalid")
    check = (
        "import pathlib, sys; text = pathlib.Path(sys.argv[1]).read_text(); print(text, flush=True); "
        "sys.exit(text != 'valid')"
    )
    wrapper = subprocess.Popen(
        [
            PYTHON,
            "-m",
            "conveyor.watched_process",
            "beat",
            "--restart-on",
            str(schedule),
            "--",
            PYTHON,
            "-c",
            check,
            str(schedule),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert wrapper.stdout is not None
    assert wrapper.stdout.readline() == "invalid\n"
    assert wrapper.stdout.readline() == (
        f"conveyor: beat stopped (exit code 1): fix what its last lines say; it starts again when {schedule} changes\n"
    )
    # When the file is fixed (replaced, as an editor saves it)
    fixed = tmp_path / "schedule.yaml.new"
    fixed.write_text("valid")
    fixed.replace(schedule)
    # Then the command runs again, and ends well
    assert wrapper.stdout.readline() == "valid\n"
    assert wrapper.wait(timeout=30) == 0
