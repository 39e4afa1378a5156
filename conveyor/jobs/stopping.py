"""Whether this job's worker is stopping: what a continuable job asks at each checkpoint.

Celery tells only the worker's main process that it is shutting down; a prefork pool's
children run the jobs and never hear of it. So the flag is one byte of shared memory,
mapped before the pool forks (at import, in the main process) and written by the main
process, read by every child (one memory read per checkpoint, no system call).

Two moments set it, both in the worker's main process:

- a warm shutdown (SIGTERM, the first Ctrl-C): Celery's ``worker_shutting_down`` signal;
  running jobs are awaited, so an interrupted job's message is acknowledged normally;
- a cold shutdown with a soft-shutdown window (SIGQUIT, SIGTERM with
  ``REMAP_SIGTERM=SIGQUIT``): Celery sends that signal only *after* the window, when jobs
  have been cancelled, so the ``StoppingFlag`` bootstep wraps the worker's
  ``wait_for_soft_shutdown`` to raise the flag when the window opens. During that window the
  main process sleeps in a signal handler: it takes no new job (so it cannot take back the
  job it interrupted) and acknowledges nothing (celery#9505), so the flag says ``COLD`` and
  an interrupted job hands its message off itself (``conveyor.broker.fetch.handoff``).

Example::

    if stopping():            # conveyor.jobs.continuable's checkpoint
        raise Interrupt(...)
"""

from __future__ import annotations

import mmap
from typing import Any

from celery import bootsteps, signals

from conveyor.compat import celery as celery_compat

__all__ = ["COLD", "RUNNING", "WARM", "StoppingFlag", "set_stopping", "stopping", "stopping_state"]

RUNNING, WARM, COLD = 0, 1, 2

# MAP_SHARED and anonymous: forked children see the parent's writes. Created at import so
# that it exists before any pool forks (the worker imports the app, hence conveyor.jobs, first).
_flag = mmap.mmap(-1, 1)


def stopping_state() -> int:
    """``RUNNING``, ``WARM`` (jobs are awaited) or ``COLD`` (a soft-shutdown window is open)."""
    return _flag[0]


def stopping() -> bool:
    """True once this process's worker started shutting down."""
    return _flag[0] != RUNNING


def set_stopping(state: int) -> None:
    """Set the flag (the bootstep and the test helpers do; ``RUNNING`` clears it)."""
    _flag[0] = state


def _on_shutting_down(sender: Any = None, how: str = "Warm", **_: Any) -> None:
    # Sent by Celery from the main process's signal handler: a warm shutdown at once, a cold one
    # only after its soft-shutdown window (the wrapper below raised the flag already then).
    if stopping_state() == RUNNING:
        set_stopping(WARM if how == "Warm" else COLD)


class StoppingFlag(bootsteps.StartStopStep):  # type: ignore[misc]
    """Raise the flag when the worker starts stopping; clear it when a worker starts."""

    label = "conveyor stopping flag"

    def __init__(self, worker: Any, **kwargs: Any) -> None:
        super().__init__(worker, **kwargs)
        signals.worker_shutting_down.connect(_on_shutting_down, weak=False, dispatch_uid="conveyor.stopping")
        wait = celery_compat.soft_shutdown_wait(worker)

        def wait_for_soft_shutdown() -> Any:
            set_stopping(COLD)
            return wait()

        worker.wait_for_soft_shutdown = wait_for_soft_shutdown

    def start(self, worker: Any) -> None:
        # A process runs one worker at a time; a test's second worker must not start stopped.
        set_stopping(RUNNING)
