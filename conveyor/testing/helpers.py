"""Test helpers: the adapter that records enqueued jobs instead of sending them (a worker thread: ``worker_thread``).

The assertions over the records are ``conveyor.testing.assertions.EnqueuedJobs``; the pytest
plugin (``conveyor.testing.pytest_plugin``) exposes them as fixtures; they work without pytest too::

    with enqueued_jobs_recorded() as enqueued_jobs:
        ReportGenerationJob.perform_later(42)
        enqueued_jobs.assert_enqueued_with(job=ReportGenerationJob, args=(42,), queue="low_priority")
        enqueued_jobs.perform_all()            # runs them in-process, including jobs they enqueue

``TestAdapter`` is a queue adapter like Celery's (``conveyor.jobs.adapters``): it
serializes arguments exactly as the real one does, so an argument that could not
be sent fails the test too, and ``perform_all`` rebuilds each job from that
serialized form, as a worker would.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from celery import Celery

from conveyor.jobs import logs
from conveyor.jobs.adapters import BeforeChunk
from conveyor.jobs.serialized import Enqueueable, SerializedJob
from conveyor.records import JobHeader
from conveyor.testing.batches import MemoryBatchStore

if TYPE_CHECKING:
    from conveyor.jobs.job import Job

__all__ = ["EnqueuedJob", "TestAdapter"]


@dataclass
class EnqueuedJob:
    """One job recorded by ``TestAdapter``."""

    job_class: type[Job]
    job_id: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    queue: str | None
    priority: int | None
    at: dt.datetime | None
    executions: int
    serialized: tuple[list[Any], dict[str, Any]] = field(repr=False)
    meta: JobHeader = field(repr=False)

    @property
    def continuation(self) -> dict[str, Any] | None:
        """A continuable job's progress as sent (``{"completed": [...], "current": [step, cursor]}``), or None."""
        return self.meta.get("continuation")

    def __str__(self) -> str:
        at = self.at.isoformat() if self.at else None
        return (
            f"{self.job_class.__qualname__}(args={self.args!r}, kwargs={self.kwargs!r}, queue={self.queue!r}, "
            f"priority={self.priority!r}, at={at})"
        )


class TestAdapter:
    """Records jobs instead of sending them; see ``EnqueuedJobs`` for assertions."""

    __test__ = False  # not a pytest test class

    def __init__(self) -> None:
        self.jobs: list[EnqueuedJob] = []
        self._lock = threading.Lock()
        #: The batches opened under this adapter (``conveyor.jobs.batch`` keeps them here, not in Redis).
        self.batches = MemoryBatchStore()

    def _record(self, job: SerializedJob) -> None:
        entry = EnqueuedJob(
            job_class=job.job_class,  # type: ignore[arg-type]  # a Job subclass: only jobs serialize
            job_id=job.job_id,
            args=tuple(job.arguments),
            kwargs=dict(job.keyword_arguments),
            queue=job.queue,
            priority=job.priority,
            at=job.scheduled_at,
            executions=job.executions,
            serialized=(job.args, job.kwargs),
            meta=job.header(),
        )
        with self._lock:
            self.jobs.append(entry)

    def enqueue(self, app: Celery, job: Enqueueable) -> None:
        self._record(job.serialize())

    def enqueue_all(
        self, app: Celery, jobs: Sequence[Enqueueable], batch_size: int, before: BeforeChunk | None = None
    ) -> None:
        serialized = [job.serialize() for job in jobs]  # all first, as the real adapter does
        if before is not None and jobs:
            before(jobs)
        for job, one in zip(jobs, serialized, strict=True):
            self._record(one)
            job.successfully_enqueued = True
            logs.enqueued(job)
