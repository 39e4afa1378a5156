"""Queue adapters: what ``perform_later`` hands a job to (ActiveJob's queue adapters).

``CeleryAdapter`` sends Celery messages (the default). ``TestAdapter`` records
jobs instead, for tests (``conveyor.testing``); it serializes arguments the same
way, so a test still fails on an argument that could not be sent.

Example::

    with use_adapter(TestAdapter()) as adapter:
        ReportGenerationJob.perform_later(42)
    adapter.jobs[0].args == (42,)
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from celery import Celery

from conveyor.errors import EnqueueError
from conveyor.serialization import serialize_arguments
from conveyor.task import task_name

if TYPE_CHECKING:
    from conveyor.job import Job

__all__ = ["HEADER", "CeleryAdapter", "QueueAdapter", "current_adapter", "serialized_arguments", "use_adapter"]

HEADER = "conveyor"  # the message header carrying the job's metadata
_FILTERED = "[FILTERED]"
A = TypeVar("A", bound="QueueAdapter")


class QueueAdapter(Protocol):
    """Receives jobs whose queue, priority and times are resolved."""

    def enqueue(self, app: Celery, job: Job) -> None:
        """Hand one job over; raise ``EnqueueError`` if it could not be."""

    def enqueue_all(self, app: Celery, jobs: Sequence[Job], batch_size: int) -> None:
        """Hand many jobs over, in batches; mark each sent job ``successfully_enqueued``."""


def serialized_arguments(job: Job) -> tuple[list[Any], dict[str, Any]]:
    """The job's arguments as they travel; raises ``SerializationError`` naming the argument."""
    cls = type(job)
    return serialize_arguments(
        f"{cls.__qualname__} (Job ID: {job.job_id})", cls._positional_names, job.arguments, job.keyword_arguments
    )


class CeleryAdapter:
    """Sends jobs as Celery messages through the app's broker connection pool."""

    def message(self, app: Celery, job: Job) -> tuple[str, Any, dict[str, Any]]:
        """Build the Celery message for ``job`` (serializes the arguments)."""
        name = task_name(type(job))
        args, kwargs = serialized_arguments(job)
        root_id = parent_id = None
        parent = app.current_worker_task
        if parent is not None:  # keep Celery's parent/root links for jobs enqueued by jobs
            root_id = parent.request.root_id or parent.request.id
            parent_id = parent.request.id
        shown = job._logs_arguments()
        message = app.amqp.create_task_message(
            job.job_id, name, args, kwargs,
            eta=job.scheduled_at,
            # A retry enqueued by perform_now carries the executions so far, as Celery's retry does.
            retries=job.executions,
            reply_to=app.thread_oid,
            create_sent_event=app.conf.task_send_sent_event,
            root_id=root_id,
            parent_id=parent_id,
            argsrepr=repr(job.arguments) if shown else _FILTERED,
            kwargsrepr=repr(job.keyword_arguments) if shown else _FILTERED,
        )  # fmt: skip
        options: dict[str, Any] = {"queue": job.queue_name, "headers": {HEADER: job._header()}}
        if job.priority is not None:
            options["priority"] = job.priority
        return name, message, options

    def enqueue(self, app: Celery, job: Job) -> None:
        name, message, options = self.message(app, job)
        # Sent through Celery's amqp layer rather than Task.apply_async: jobs
        # return themselves, not an AsyncResult, so the result backend's
        # per-call subscription (two Redis round trips) is skipped;
        # job.async_result still works.
        try:
            with app.producer_or_acquire(None) as producer:
                app.amqp.send_task_message(producer, name, message, **options)
        except Exception as exc:
            raise EnqueueError(
                f"Could not enqueue {type(job).__qualname__} (Job ID: {job.job_id}) to {job.queue_name}: "
                f"{type(exc).__name__}: {exc}. Is the broker at {app.conf.broker_url!r} reachable?"
            ) from exc

    def enqueue_all(self, app: Celery, jobs: Sequence[Job], batch_size: int) -> None:
        from conveyor import logs

        # Every message is built (and every argument serialized) before the first is sent.
        prepared = [(job, *self.message(app, job)) for job in jobs]
        send = app.amqp.send_task_message
        for start in range(0, len(prepared), batch_size):
            chunk = prepared[start : start + batch_size]
            try:
                # max_size above the chunk's command count: the chunk flushes once, at exit.
                with app.producer_or_acquire(None) as producer, producer.batch(max_size=4 * len(chunk) + 16):
                    for _job, name, message, options in chunk:
                        send(producer, name, message, retry=False, **options)
            except Exception as exc:
                raise EnqueueError(
                    f"perform_all_later: could not enqueue jobs {start + 1}-{start + len(chunk)} of {len(prepared)}: "
                    f"{type(exc).__name__}: {exc}. {start} job(s) before them were enqueued."
                ) from exc
            for job, *_ in chunk:
                job.successfully_enqueued = True
                logs.enqueued(job)


_DEFAULT = CeleryAdapter()
_override: QueueAdapter | None = None


def current_adapter() -> QueueAdapter:
    """The adapter jobs are handed to now: a test's, or Celery."""
    return _override if _override is not None else _DEFAULT


@contextlib.contextmanager
def use_adapter(adapter: A) -> Iterator[A]:
    """Hand jobs to ``adapter`` inside the block (for every thread of the process)."""
    global _override
    previous, _override = _override, adapter
    try:
        yield adapter
    finally:
        _override = previous
