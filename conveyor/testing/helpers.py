"""Test helpers: record enqueued jobs instead of sending them, assert on them, run them in-process.

The pytest plugin (``conveyor.testing.pytest_plugin``) exposes these as fixtures; they
work without pytest too::

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

import contextlib
import datetime as dt
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from celery import Celery

from conveyor.jobs import logs
from conveyor.jobs.adapters import serialized_arguments, use_adapter
from conveyor.wire import JobHeader

if TYPE_CHECKING:
    from conveyor.jobs.job import Job

__all__ = ["EnqueuedJob", "EnqueuedJobs", "TestAdapter", "enqueued_jobs_recorded", "worker_thread"]

#: ``at=`` matches a job scheduled within this many seconds of it (enqueue takes time too).
AT_TOLERANCE_S = 1.0


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

    def _record(self, job: Job, serialized: tuple[list[Any], dict[str, Any]]) -> None:
        entry = EnqueuedJob(
            job_class=type(job), job_id=job.job_id, args=tuple(job.arguments), kwargs=dict(job.keyword_arguments),
            queue=job.queue_name, priority=job.priority, at=job.scheduled_at, executions=job.executions,
            serialized=serialized, meta=job._header(),
        )  # fmt: skip
        with self._lock:
            self.jobs.append(entry)

    def enqueue(self, app: Celery, job: Job) -> None:
        self._record(job, serialized_arguments(job))

    def enqueue_all(self, app: Celery, jobs: Sequence[Job], batch_size: int) -> None:
        serialized = [serialized_arguments(job) for job in jobs]  # all first, as the real adapter does
        for job, arguments in zip(jobs, serialized, strict=True):
            self._record(job, arguments)
            job.successfully_enqueued = True
            logs.enqueued(job)


def _classes(only: type[Job] | Iterable[type[Job]] | None) -> tuple[type[Job], ...] | None:
    if only is None:
        return None
    return (only,) if isinstance(only, type) else tuple(only)


def _close_in_time(a: dt.datetime | None, b: dt.datetime) -> bool:
    return a is not None and abs((a - b).total_seconds()) <= AT_TOLERANCE_S


class EnqueuedJobs:
    """Assertions over the jobs recorded during a test (the ``enqueued_jobs`` fixture)."""

    def __init__(self, adapter: TestAdapter) -> None:
        self.adapter = adapter
        self.performed: list[EnqueuedJob] = []

    @property
    def jobs(self) -> list[EnqueuedJob]:
        """Jobs enqueued and not yet performed, oldest first."""
        return list(self.adapter.jobs)

    def _select(self, only: Any = None, queue: str | None = None) -> list[EnqueuedJob]:
        classes = _classes(only)
        return [
            job for job in self.jobs
            if (classes is None or job.job_class in classes) and (queue is None or job.queue == queue)
        ]  # fmt: skip

    def count(self, only: type[Job] | Iterable[type[Job]] | None = None, queue: str | None = None) -> int:
        """How many jobs (of these classes, on this queue) are enqueued."""
        return len(self._select(only, queue))

    def clear(self) -> None:
        """Forget every recorded job."""
        with self.adapter._lock:
            self.adapter.jobs.clear()
        self.performed.clear()

    def assert_enqueued_with(
        self,
        job: type[Job] | None = None,
        args: Sequence[Any] | None = None,
        kwargs: dict[str, Any] | None = None,
        queue: str | None = None,
        priority: int | None = None,
        at: dt.datetime | None = None,
    ) -> EnqueuedJob:
        """Assert a job matching every given criterion was enqueued; returns it.

        ``at`` matches the scheduled time within a second. The failure message
        lists what was enqueued instead.
        """
        criteria: dict[str, Any] = {
            key: value
            for key, value in (("job", job), ("args", args), ("kwargs", kwargs), ("queue", queue),
                               ("priority", priority), ("at", at))
            if value is not None
        }  # fmt: skip

        def matches(entry: EnqueuedJob) -> bool:
            return (
                (job is None or entry.job_class is job)
                and (args is None or entry.args == tuple(args))
                and (kwargs is None or entry.kwargs == kwargs)
                and (queue is None or entry.queue == queue)
                and (priority is None or entry.priority == priority)
                and (at is None or _close_in_time(entry.at, at))
            )

        for entry in self.jobs:
            if matches(entry):
                return entry
        wanted = ", ".join(
            f"{key}={value.__qualname__}" if key == "job" else f"{key}={value!r}" for key, value in criteria.items()
        )
        raise AssertionError(f"No enqueued job found with {wanted}\n\n{self._instead(job)}")

    def _instead(self, job: type[Job] | None) -> str:
        jobs = self.jobs
        if not jobs:
            return "No jobs were enqueued."
        if job is not None and not any(entry.job_class is job for entry in jobs):
            classes = ", ".join(sorted({entry.job_class.__qualname__ for entry in jobs}))
            return f"No jobs of class {job.__qualname__} were enqueued, job classes enqueued: {classes}"
        candidates = [entry for entry in jobs if job is None or entry.job_class is job]
        return "Potential matches: " + "\n                   ".join(str(entry) for entry in candidates)

    def assert_enqueued_jobs(
        self, number: int, only: type[Job] | Iterable[type[Job]] | None = None, queue: str | None = None
    ) -> None:
        """Assert exactly ``number`` jobs (of these classes, on this queue) were enqueued."""
        found = self._select(only, queue)
        if len(found) != number:
            scope = self._scope(only, queue)
            listing = "\n".join(f"  {entry}" for entry in self.jobs) or "  (none)"
            raise AssertionError(
                f"{number} job(s){scope} expected to be enqueued, but {len(found)} were.\nEnqueued:\n{listing}"
            )

    def assert_no_enqueued_jobs(
        self, only: type[Job] | Iterable[type[Job]] | None = None, queue: str | None = None
    ) -> None:
        """Assert no job (of these classes, on this queue) was enqueued."""
        self.assert_enqueued_jobs(0, only=only, queue=queue)

    @staticmethod
    def _scope(only: Any, queue: str | None) -> str:
        classes = _classes(only)
        parts = []
        if classes:
            parts.append("of " + ", ".join(cls.__qualname__ for cls in classes))
        if queue is not None:
            parts.append(f"on queue {queue!r}")
        return (" " + " ".join(parts)) if parts else ""

    def perform_all(self, at: dt.datetime | None = None, max_jobs: int = 10_000) -> int:
        """Run enqueued jobs in-process, including the ones they enqueue; returns how many ran.

        With ``at``, only jobs due by then run (the others stay enqueued). Each
        job is rebuilt from its serialized arguments, as a worker would; errors
        propagate to the test. ``max_jobs`` stops a job that keeps enqueuing itself.
        """
        performed = 0
        while True:
            due = [entry for entry in self.jobs if at is None or entry.at is None or entry.at <= at]
            if not due:
                return performed
            for entry in due:
                with self.adapter._lock:
                    self.adapter.jobs.remove(entry)
                self.performed.append(entry)
                performed += 1
                if performed > max_jobs:
                    raise AssertionError(
                        f"perform_all ran {max_jobs} jobs and more keep coming: a job re-enqueues itself?"
                    )
                job = entry.job_class._from_message(
                    entry.job_id, *entry.serialized, entry.meta, entry.executions, queue=entry.queue
                )
                job._execute()

    # --- mail -------------------------------------------------------------------------------------

    def emails(self) -> list[EnqueuedJob]:
        """Enqueued mail deliveries (``deliver_later``)."""
        from conveyor.mail.mailer import MailDeliveryJob

        return [entry for entry in self.jobs if entry.job_class is MailDeliveryJob]

    def assert_enqueued_email_with(
        self, mailer: type[Any], action: str, args: Sequence[Any] | None = None, kwargs: dict[str, Any] | None = None
    ) -> EnqueuedJob:
        """Assert ``mailer.action(*args, **kwargs).deliver_later()`` was called; returns the delivery job."""
        path = f"{mailer.__module__}.{mailer.__qualname__}"
        for entry in self.emails():
            got_path, got_action, got_args, got_kwargs = entry.args
            if (
                (got_path, got_action) == (path, action)
                and (args is None or tuple(got_args) == tuple(args))
                and (kwargs is None or got_kwargs == kwargs)
            ):
                return entry
        listing = "\n".join(
            f"  {path.rpartition('.')[2]}.{name}(args={tuple(got)!r}, kwargs={got_kw!r})"
            for path, name, got, got_kw in (entry.args for entry in self.emails())
        ) or "  (none)"  # fmt: skip
        wanted = f"{mailer.__qualname__}.{action}" + (f"(args={tuple(args)!r})" if args is not None else "")
        raise AssertionError(f"No email enqueued for {wanted}\n\nEmails enqueued:\n{listing}")


@contextlib.contextmanager
def worker_thread(app: Celery, queues: Sequence[str] | None = None, **options: Any) -> Iterator[Any]:
    """A real Celery worker in a thread (solo pool) against the app's real broker.

    It consumes ``queues``, or the app's configured queues in their order. Celery
    remembers a worker's queue selection on the app; it is put back afterwards so
    the next worker of the same app consumes what it should.
    """
    from celery.contrib.testing.worker import start_worker

    selection = app.amqp.queues
    consume_from = selection._consume_from
    options = {"pool": "solo", "concurrency": 1, "perform_ping_check": False, "loglevel": "WARNING", **options}
    try:
        with start_worker(app, queues=list(queues) if queues else None, **options) as worker:
            yield worker
    finally:
        selection._consume_from = consume_from


@contextlib.contextmanager
def enqueued_jobs_recorded() -> Iterator[EnqueuedJobs]:
    """Record jobs instead of sending them inside the block."""
    with use_adapter(TestAdapter()) as adapter:
        yield EnqueuedJobs(adapter)
