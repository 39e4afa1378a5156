"""A process ``make run`` restarts on save, which says so when it stops on its own.

Under ``make run`` (``Procfile.dev``) watchfiles runs the worker and restarts it when a file in
``tasks/``, ``app/`` or ``config/`` changes. When the worker exits by itself instead (an import
error in ``tasks/``: a ``DeclarationError``, a ``SyntaxError``), watchfiles waits for the next
change and says nothing: beat and Flower stay up, jobs pile up, and the traceback scrolls away.
This runs the command, passes SIGINT and SIGTERM on to it (watchfiles' restart, honcho's stop),
and when it ends with an error nobody asked for, prints one line after its traceback::

    conveyor: worker stopped (exit code 1): fix what its last lines say; it starts again when a file in tasks/, ...

Flower runs the same way. beat, which refuses to start on an invalid ``schedule.yaml``, runs with
``--restart-on schedule.yaml``: it starts again when the file changes (and once it runs, it reloads
the file itself: ``conveyor.schedule.beat``). One of them stopping no longer stops the others.

Example (``Procfile.dev``)::

    worker: watchfiles "python -m conveyor.watched_process worker -- celery -A app worker" tasks app config
    beat: python -m conveyor.watched_process beat --restart-on schedule.yaml -- celery -A app beat
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

__all__ = ["main", "run"]

#: What make run watches (Procfile.dev) unless told (--watching): said in the line, so the fix is the next step.
WATCHED = "a file in tasks/, app/ or config/"
USAGE = (
    "usage: python -m conveyor.watched_process NAME [--watching WHAT | --restart-on PATH[:PATH…]] "
    "-- COMMAND [ARGUMENT…]"
)
#: How often (s) a stopped command's file is looked at (--restart-on).
POLL_S = 0.5


def run(name: str, command: list[str], watching: str = WATCHED, restart_on: list[Path] | None = None) -> int:
    """Run ``command``; its exit code. A stop nobody asked for is announced on stdout.

    With ``restart_on``, a command that stopped so is started again when one of those files, or a file
    in one of those folders, changes (beat,
    whose schedule file watchfiles cannot follow: an editor's save replaces the file, and a watch
    on the file is lost with it); a SIGINT or SIGTERM meanwhile ends the wait.
    """
    stop = threading.Event()
    while True:
        before = _mtime(restart_on)
        code, asked = _run_once(command, stop)
        if code == 0 or asked:
            return code
        what = f"{' or '.join(map(str, restart_on))} changes" if restart_on else f"{watching} changes"
        print(f"conveyor: {name} stopped (exit code {code}): fix what its last lines say; it starts again when {what}")
        sys.stdout.flush()
        if not restart_on or not _wait_for_change(restart_on, before, stop):
            return code


def _run_once(command: list[str], stop: threading.Event) -> tuple[int, bool]:
    """Run ``command`` once, passing SIGINT and SIGTERM on; (exit code, whether a signal asked it to stop)."""
    child = subprocess.Popen(command, preexec_fn=_die_with_parent if sys.platform == "linux" else None)

    def forward(signum: int, _: Any) -> None:
        stop.set()  # a restart or a stop: the command's exit is expected, whatever its code
        child.send_signal(signum)

    previous = {signum: signal.signal(signum, forward) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        return child.wait(), stop.is_set()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _wait_for_change(paths: list[Path], before: tuple[int | None, ...], stop: threading.Event) -> bool:
    """Wait until one of ``paths`` changes (True) or a SIGINT/SIGTERM comes (False)."""
    previous = {signum: signal.signal(signum, lambda *_: stop.set()) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        while not stop.wait(POLL_S):
            if _mtime(paths) != before:
                return True
        return False
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _mtime(paths: list[Path] | None) -> tuple[int | None, ...]:
    """The modification time of each path: a file's, or the latest of the files in a folder."""
    times: list[int | None] = []
    for path in paths or []:
        try:
            if path.is_dir():
                found = [p.stat().st_mtime_ns for p in path.rglob("*") if p.is_file() and "__pycache__" not in p.parts]
                times.append(max(found, default=0) + len(found))  # a file removed is a change too
            else:
                times.append(path.stat().st_mtime_ns)
        except OSError:
            times.append(None)  # not there (yet): its creation is a change
    return tuple(times)


def _die_with_parent() -> None:
    # watchfiles SIGKILLs what does not stop within its SIGINT timeout: the command goes with this
    # process (Linux's PR_SET_PDEATHSIG), as it did when watchfiles ran it directly.
    import ctypes

    with contextlib.suppress(OSError, AttributeError):  # no prctl: the command finishes its warm shutdown alone
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # 1: PR_SET_PDEATHSIG


def main(argv: list[str] | None = None) -> int:
    """``python -m conveyor.watched_process NAME [--watching WHAT | --restart-on FILE] -- COMMAND…``."""
    args = sys.argv[1:] if argv is None else argv
    split = args.index("--") if "--" in args else len(args)
    head, command = args[:split], args[split + 1 :]
    if not command or len(head) not in (1, 3) or (len(head) == 3 and head[1] not in ("--watching", "--restart-on")):
        print(USAGE, file=sys.stderr)
        return 2
    if len(head) == 3 and head[1] == "--restart-on":  # paths separated as in PATH
        return run(head[0], command, restart_on=[Path(part) for part in head[2].split(os.pathsep) if part])
    return run(head[0], command, head[2] if len(head) == 3 else WATCHED)


if __name__ == "__main__":
    sys.exit(main())
