"""Every process a test starts ends with the test run, even when pytest itself is stopped.

pytest runs fixture teardowns on Ctrl-C (KeyboardInterrupt) but not on SIGTERM, which ends it
at once: ``timeout 200 pytest tests/reliability`` used to leave worker process groups running
for minutes, stealing the CPU of the next run. ``tests/conftest.py`` makes SIGTERM unwind as
Ctrl-C does (so teardowns run), and whatever a teardown did not reach is ended at exit here:
each process started through ``track`` is remembered, and its process group (a worker and its
pool children) is sent SIGTERM, then SIGKILL.

Example::

    process = track(subprocess.Popen([...], start_new_session=True))
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import subprocess
import time
from typing import Any, TypeVar

__all__ = ["end_all", "interrupt_on_sigterm", "track"]

P = TypeVar("P", bound=subprocess.Popen[Any])

_LIVE: list[subprocess.Popen[Any]] = []


def track(process: P) -> P:
    """Remember ``process`` (and its group, if it leads one) to end it at exit if it still runs."""
    _LIVE[:] = [known for known in _LIVE if known.poll() is None]
    _LIVE.append(process)
    return process


def end_all(grace_s: float = 5.0) -> None:
    """End every tracked process that still runs: its group SIGTERM, then SIGKILL after ``grace_s``."""
    running = [process for process in _LIVE if process.poll() is None]
    for process in running:
        _signal(process, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    for process in running:
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=max(0.0, deadline - time.monotonic()))
        if process.poll() is None:
            _signal(process, signal.SIGKILL)
            process.wait()


def _signal(process: subprocess.Popen[Any], signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        if os.getpgid(process.pid) == process.pid:  # it leads its own group: its children go too
            os.killpg(process.pid, signum)
        else:
            process.send_signal(signum)


def interrupt_on_sigterm() -> None:
    """SIGTERM ends the run as Ctrl-C does: pytest unwinds and runs every fixture's teardown."""

    def interrupt(signum: int, frame: Any) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a second SIGTERM ends it at once
        raise KeyboardInterrupt(f"pytest got signal {signum}")

    signal.signal(signal.SIGTERM, interrupt)


atexit.register(end_all)
