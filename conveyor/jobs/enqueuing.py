"""Putting jobs on a queue: ``perform_later``, ``set(...)``, ``perform_all_later``.

Enqueue options resolve in one order: ``set(...)`` > class declaration > app
default. Arguments are serialized before anything is sent, so an unserializable
argument raises ``SerializationError`` and reaches no broker. Broker failures
raise ``EnqueueError``.

Example::

    ReportGenerationJob.perform_later(report.id)
    ReportGenerationJob.set(wait=3600).perform_later(report.id)
    ReportGenerationJob.set(queue="high_priority", priority=0).perform_later(report.id)
    perform_all_later([ReportGenerationJob(r.id) for r in reports])

From async code (a FastAPI handler, an async job), the ``a`` forms never block the event loop: the
job is built and its arguments checked in the caller, and the send (kombu and redis-py are
blocking clients) runs in the loop's default thread pool::

    await ReportGenerationJob.aperform_later(report.id)
    await ReportGenerationJob.set(wait=3600).aperform_later(report.id)
    await aperform_all_later([ReportGenerationJob(r.id) for r in reports])
"""

from __future__ import annotations

import asyncio
import datetime as dt
import difflib
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Generic, Self, TypeVar

from celery import Celery

from conveyor.errors import Abort, DuplicateJobError
from conveyor.jobs import logs
from conveyor.jobs.adapters import current_adapter
from conveyor.jobs.app_lookup import current_app, task_name
from conveyor.jobs.batch_scope import OpenBatch, open_batch
from conveyor.jobs.callbacks import run_chain
from conveyor.jobs.controls import UNIQUE_ATTR, control_headers
from conveyor.jobs.core import Core, _ClassOrInstanceMethod
from conveyor.jobs.enqueue_options import EnqueueOptions, check_enqueue_options
from conveyor.jobs.serialized import SerializedJob
from conveyor.records import JobHeader, job_header
from conveyor.serialization import serialize_arguments
from conveyor.settings import Settings, settings_for

__all__ = ["ConfiguredJob", "Enqueuing", "aperform_all_later", "check_enqueue_options", "perform_all_later"]

_NO_CONTROLS: dict[str, Any] = {}  # shared, never written: a SerializedJob's controls are read only

J = TypeVar("J", bound="Enqueuing")
UTC = dt.UTC


class ConfiguredJob(Generic[J]):
    """A job class with enqueue options, as returned by ``Job.set(...)``.

    Example::

        ReportGenerationJob.set(wait=timedelta(hours=1), queue="reports").perform_later(42)
    """

    def __init__(self, job_class: type[J], options: EnqueueOptions) -> None:
        self.job_class = job_class
        self.options = options

    def set(self, **options: Any) -> ConfiguredJob[J]:
        return ConfiguredJob(self.job_class, {**self.options, **check_enqueue_options(**options)})

    def perform_later(self, *args: Any, **kwargs: Any) -> J:
        """Enqueue the job with these options; returns the job (see ``Job.perform_later``)."""
        return self.job_class(*args, **kwargs).enqueue(**self.options)

    async def aperform_later(self, *args: Any, **kwargs: Any) -> J:
        """``perform_later`` for async code: the send runs in a thread, the event loop goes on."""
        job = self.job_class(*args, **kwargs)
        return await asyncio.to_thread(job.enqueue, **self.options)

    def perform_now(self, *args: Any, **kwargs: Any) -> Any:
        """Run the job in-process; the options apply to retries it enqueues."""
        job = self.job_class(*args, **kwargs)
        job._options.update(self.options)
        return job.perform_now()

    def __repr__(self) -> str:
        return f"<ConfiguredJob {self.job_class.__qualname__} {self.options!r}>"


class Enqueuing(Core):
    """Mixin: ``perform_later``, ``set`` and ``enqueue``."""

    def _set_on_instance(self, **options: Any) -> Self:
        self._options.update(check_enqueue_options(**options))
        return self

    def _set_on_class(cls: Any, **options: Any) -> Any:  # noqa: N805 - bound to the class by the descriptor
        return ConfiguredJob(cls, check_enqueue_options(**options))

    set: _ClassOrInstanceMethod[Any] = _ClassOrInstanceMethod(_set_on_class, _set_on_instance)
    set.__doc__ = """Enqueue options, kept apart from the job's arguments.

    On the class, returns a configured job: ``Job.set(wait=60).perform_later(42)``.
    On an instance, sets the options and returns the instance:
    ``perform_all_later([Job(1).set(queue="bulk")])``.

    Options: ``wait`` (seconds or timedelta), ``wait_until`` (aware datetime),
    ``queue`` (name), ``priority`` (0-9). Unknown names raise TypeError.
    """

    @classmethod
    def perform_later(cls, *args: Any, **kwargs: Any) -> Self:
        """Enqueue the job; returns the job instance (``job.job_id``, ``job.successfully_enqueued``).

        Raises TypeError if the arguments do not fit ``perform``, SerializationError
        for an argument that cannot be sent, EnqueueError if the broker fails.
        """
        return cls(*args, **kwargs).enqueue()

    @classmethod
    async def aperform_later(cls, *args: Any, **kwargs: Any) -> Self:
        """``perform_later`` for async code: arguments are checked here, the send runs in a thread.

        The event loop goes on while Redis answers (kombu and redis-py are blocking clients); the
        loop's default executor carries the sends.
        """
        job = cls(*args, **kwargs)
        return await asyncio.to_thread(job.enqueue)

    def enqueue(self, **options: Any) -> Self:
        """Enqueue this job instance with its ``set`` options and ``options``; returns it."""
        app = current_app()
        self._resolve_options({**self._options, **options} if options else self._options, settings_for(app))
        chain = type(self)._chains["enqueue"]
        if chain.empty:
            self._publish(app)
            return self
        published = False

        def publish() -> None:
            nonlocal published
            self._publish(app)
            published = True

        try:
            run_chain(self, chain, publish)
        except Abort:
            if not published:  # an Abort from after_enqueue cannot unsend the message
                self.successfully_enqueued = False
                logs.enqueue_halted(self)
        return self

    def _resolve_destination(self, options: EnqueueOptions, settings: Settings) -> None:
        self.queue_name = settings.queue(self._resolve_queue(options.get("queue"), settings.default_queue))
        priority = options.get("priority")
        if priority is None:
            priority = self._declared_priority()
        self.priority = settings.default_priority if priority is None else priority

    def _resolve_options(self, options: EnqueueOptions, settings: Settings, now: dt.datetime | None = None) -> None:
        self._resolve_destination(options, settings)
        if now is None:
            now = dt.datetime.now(UTC)
        self.enqueued_at = now
        if "after_commit" in options:  # the transaction hooks read it on the job (class default: True)
            self.enqueue_after_transaction_commit = options["after_commit"]
        if options.get("wait"):
            self.scheduled_at = now + dt.timedelta(seconds=options["wait"])
        else:
            self.scheduled_at = options.get("wait_until")

    def _header(self) -> JobHeader:
        """The job's metadata for the message header (read back by ``Execution._from_message``)."""
        return job_header(
            self.enqueued_at,
            self.scheduled_at,
            self.queue_name,
            self.priority,
            self.exception_executions,
            error=self._retry_error,
            attempt=self._retry_attempt,
            progress=self._progress_on_wire(),
            resumptions=self.resumptions,
            batch=self.batch_id,
        )

    def serialize(self) -> SerializedJob:
        """The job as it is sent (ActiveJob's ``serialize``): what every queue adapter builds its message from.

        Raises ``SerializationError`` naming an argument that cannot travel. Call it after the job's
        queue and times are resolved (``perform_later`` does, then hands the job to the adapter).

        Example::

            ReportGenerationJob.perform_later(42).serialize().args   # [42]
        """
        cls = type(self)
        job_id = self.job_id
        args, kwargs = serialize_arguments(
            f"{cls.__qualname__} (Job ID: {job_id})", cls._positional_names, self.arguments, self.keyword_arguments
        )
        name = task_name(cls)
        # perform_all_later serializes every job first: the common job (no progress, not retried, no
        # controls) costs no more calls than the fields it copies.
        progress = self._progress_on_wire() if self._continuation is not None or self._progress else None
        note = "" if progress is None else f" [resumption {self.resumptions + 1}, {self.continuation.description}]"
        return SerializedJob(
            cls,
            job_id,
            name,
            self.queue_name,
            self.priority,
            self.executions,
            self.enqueued_at,
            self.scheduled_at,
            self.arguments,
            self.keyword_arguments,
            args,
            kwargs,
            cls.log_arguments,
            self.exception_executions,
            self._retry_error,
            self._retry_attempt,
            progress,
            self.resumptions,
            note,  # shown with the arguments in Flower's task view: where a resumed job starts again
            control_headers(self, name, (args, kwargs)) if cls._controlled else _NO_CONTROLS,
            self.batch_id,
        )

    def _publish(self, app: Celery, defer: bool = True) -> None:
        batch = self._batch
        if batch is None and self.batch_id is None and defer:
            batch = open_batch()  # in a Batch.jobs() block: the job goes into its batch (a held job was tagged)
            if batch is not None:
                self._batch, self.batch_id = batch, batch.id
        if defer and _holds and _held(app, self):
            if batch is not None:
                batch.held(1)  # sent after its commit: the batch is sealed only then
            return
        self.successfully_enqueued = False
        _warn_if_unconsumed(app, self.queue_name)
        if batch is None:
            self._send(app)
            return
        try:
            batch.register(app, [self.job_id])  # pending before any worker can see it (conveyor.jobs.batch)
            try:
                self._send(app)
            finally:
                if not self.successfully_enqueued:  # refused as a duplicate, or not sent
                    batch.forget(app, [self.job_id])
        finally:
            self._batch = None
            if not defer:  # it was held until its transaction committed, in that batch's block
                batch.released(app)

    def _send(self, app: Celery) -> None:
        try:
            current_adapter().enqueue(app, self)
        except DuplicateJobError as exc:
            self.duplicate_of = exc.holder_id
            logs.duplicate(self)
            declared = getattr(type(self), UNIQUE_ATTR, None)
            if declared is not None and declared.on_conflict == "raise":
                raise
            return
        self.successfully_enqueued = True
        logs.enqueued(self)


#: Called with (app, job) before a job is sent; True means "held: it is sent later, or never"
#: (``conveyor.sqlalchemy.transactions`` holds jobs until their transaction commits). Empty
#: unless an integration registered one, so the hot path reads one global.
_holds: list[Callable[[Celery, Any], bool]] = []


def hold_enqueues_with(hook: Callable[[Celery, Any], bool]) -> None:
    """Register ``hook`` to hold jobs before they are sent (once per hook).

    Example::

        hold_enqueues_with(hold_if_in_transaction)   # what defer_enqueue_until_commit does
    """
    if hook not in _holds:
        _holds.append(hook)


def _held(app: Celery, job: Any) -> bool:
    return any(hold(app, job) for hold in _holds)


_warned: set[tuple[int, str | None]] = set()


def _warn_if_unconsumed(app: Celery, queue: str | None) -> None:
    """Log once per queue when a job goes to a queue the app's workers do not consume.

    The job is still sent (a worker started with ``-Q`` may consume it); the
    warning catches a typo in ``queue_as`` before the jobs pile up unseen.
    """
    known = settings_for(app).known_queues
    if known is None or queue in known or (id(app), queue) in _warned:
        return
    _warned.add((id(app), queue))
    close = difflib.get_close_matches(queue or "", sorted(known), n=1, cutoff=0.6)
    if close:  # most likely a typo in queue_as or set(queue=...): that fix comes first
        logs.logger.warning(
            "Queue %r is not in the worker configuration (%s): did you mean %r? Fix the job's queue_as (or "
            "set(queue=...)); if %r is a new queue, add it to config/worker.yaml or start a worker with -Q %s, "
            "or `celery worker` without -Q will not run its jobs",
            queue,
            ", ".join(sorted(known)),
            close[0],
            queue,
            queue,
        )
        return
    logs.logger.warning(
        "Queue %r is not in the worker configuration (%s), so `celery worker` without -Q will not run its jobs: "
        "add it to config/worker.yaml or start a worker with -Q %s",
        queue,
        ", ".join(sorted(known)),
        queue,
    )


def perform_all_later(jobs: Iterable[Enqueuing], *, batch_size: int = 1000) -> int:
    """Enqueue many jobs with one Redis round trip per ``batch_size`` jobs; returns the count enqueued
    (including jobs held until their transaction commits, see ``conveyor.sqlalchemy.transactions``).

    Each job's ``set`` options apply. As in ActiveJob, enqueue callbacks do not
    run for bulk enqueues. Every argument is serialized before the first
    message is sent, so a SerializationError leaves the broker untouched.
    On a broker failure, EnqueueError is raised; ``job.successfully_enqueued``
    tells which jobs were sent (the failed batch's delivery is uncertain and
    its jobs are marked False).

    Example::

        perform_all_later([ReportGenerationJob(r.id) for r in reports])
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"perform_all_later(batch_size=...) expects an int >= 1, got {batch_size!r}")
    pending = list(jobs)
    if not pending:
        return 0
    app = current_app()
    settings = settings_for(app)
    for job in pending:
        job.successfully_enqueued = False
    now = dt.datetime.now(UTC)  # one enqueue time for the jobs enqueued together
    for job in pending:
        job._resolve_options(job._options, settings, now)
    batch = _tag(pending)
    held = 0
    if _holds:
        held = sum(_held(app, job) for job in pending)
        if held and batch is not None:
            batch.held(sum(1 for job in pending if job._batch is batch and job.successfully_enqueued is None))
        if held:
            pending = [job for job in pending if job.successfully_enqueued is not None]
            if not pending:
                return held
    for queue in {job.queue_name for job in pending}:
        _warn_if_unconsumed(app, queue)
    if batch is None:
        current_adapter().enqueue_all(app, pending, batch_size)
    else:
        _enqueue_all_in(app, batch, pending, batch_size)
    return len(pending) + held


def _tag(jobs: list[Enqueuing]) -> OpenBatch | None:
    """In a ``Batch.jobs()`` block, the jobs go into its batch (a job already in one stays there)."""
    batch = open_batch()
    if batch is not None:
        for job in jobs:
            if job.batch_id is None:
                job._batch, job.batch_id = batch, batch.id
    return batch


def _enqueue_all_in(app: Celery, batch: OpenBatch, jobs: list[Enqueuing], batch_size: int) -> None:
    """Each chunk registered in the batch before it is sent; what was not sent taken back after."""

    def register(chunk: Sequence[Any]) -> None:
        batch.register(app, [job.job_id for job in chunk if job._batch is batch])

    try:
        current_adapter().enqueue_all(app, jobs, batch_size, before=register)
    finally:
        unsent = [job.job_id for job in jobs if job._batch is batch and not job.successfully_enqueued]
        if unsent:  # refused duplicates, or a chunk that failed
            batch.forget(app, unsent)
        for job in jobs:
            job._batch = None


async def aperform_all_later(jobs: Iterable[Enqueuing], *, batch_size: int = 1000) -> int:
    """``perform_all_later`` for async code: the pipelines are sent from a thread; returns the count.

    Example::

        await aperform_all_later([WebhookDeliveryJob(url, event) for url in subscribers])
    """
    return await asyncio.to_thread(perform_all_later, list(jobs), batch_size=batch_size)
