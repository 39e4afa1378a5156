"""Interrupting continuable jobs in tests, as if their worker were stopping (ActiveJob's continuation test helpers).

Each helper makes the matching job's checkpoint report "stopping" once per job id inside the
block: the job is interrupted there and enqueued again with its progress, exactly as in a
worker that received SIGTERM. Use them with ``perform_now`` or ``enqueued_jobs.perform_all``::

    with interrupt_job_during_step(ImportJob, "process", cursor=500):
        ImportJob.perform_now(import_id)                  # stops after row 500
    resumed = enqueued_jobs.assert_enqueued_with(job=ImportJob)
    assert resumed.continuation == {"completed": ["initialize"], "current": ["process", 500]}
    enqueued_jobs.perform_all()                           # resumes at 500

    with interrupt_job_after_step(ImportJob, "initialize"):
        ImportJob.perform_now(import_id)
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

from conveyor.jobs.continuation import Continuation

__all__ = ["interrupt_job_after_step", "interrupt_job_during_step"]

_UNSET: Any = object()


@contextlib.contextmanager
def _interrupting(job_class: type, matches: Callable[[Continuation], bool]) -> Iterator[None]:
    interrupted: set[str] = set()
    previous = Continuation.interrupt_when

    def interrupt_when(continuation: Continuation) -> bool:
        job, job_id = continuation.job, str(getattr(continuation.job, "job_id", ""))
        if isinstance(job, job_class) and job_id not in interrupted and matches(continuation):
            interrupted.add(job_id)
            return True
        return previous(continuation) if previous is not None else False

    Continuation.interrupt_when = interrupt_when
    try:
        yield
    finally:
        Continuation.interrupt_when = previous


def interrupt_job_during_step(job_class: type, step: str, cursor: Any = _UNSET) -> Any:
    """Interrupt ``job_class`` at a checkpoint inside ``step`` (the first one, or where the cursor is ``cursor``)."""

    def during(continuation: Continuation) -> bool:
        current = continuation.current
        return continuation.running == step and current is not None and (cursor is _UNSET or current.cursor == cursor)

    return _interrupting(job_class, during)


def interrupt_job_after_step(job_class: type, step: str) -> Any:
    """Interrupt ``job_class`` at the checkpoint right after ``step`` completed (before the next step)."""

    def after(continuation: Continuation) -> bool:
        return continuation.running is None and bool(continuation.completed) and continuation.completed[-1] == step

    return _interrupting(job_class, after)
