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
import datetime as dt
import functools
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, Protocol, TypeVar

from celery import Celery
from celery.utils.nodenames import anon_nodename
from kombu.exceptions import OperationalError

from conveyor.broker import replicas
from conveyor.broker.controls import UNIQUE_HEADER
from conveyor.broker.scheduled import scheduled_set
from conveyor.compat import kombu as kombu_compat
from conveyor.errors import DuplicateJobError, EnqueueError, NotReplicatedError
from conveyor.jobs import logs
from conveyor.jobs.app_lookup import current_worker_request
from conveyor.jobs.redis_sender import _lean_redis_sender, _redis_envelope
from conveyor.jobs.serialized import Enqueueable, SerializedJob
from conveyor.records import HEADER
from conveyor.settings import masked_url, settings_for

__all__ = ["BeforeChunk", "CeleryAdapter", "QueueAdapter", "current_adapter", "use_adapter"]

_FILTERED = "[FILTERED]"
A = TypeVar("A", bound="QueueAdapter")
#: Called with each chunk of jobs before ``enqueue_all`` sends it.
BeforeChunk = Callable[[Sequence[Enqueueable]], None]


class QueueAdapter(Protocol):
    """Receives jobs whose queue, priority and times are resolved; reads them through ``job.serialize()``."""

    def enqueue(self, app: Celery, job: Enqueueable) -> None:
        """Hand one job over; raise ``EnqueueError`` if it could not be."""

    def enqueue_all(
        self, app: Celery, jobs: Sequence[Enqueueable], batch_size: int, before: BeforeChunk | None = None
    ) -> None:
        """Hand many jobs over, in chunks; mark each sent job ``successfully_enqueued``.

        ``before(chunk)`` runs ahead of each chunk's send (a batch registers its jobs there).
        """


class CeleryAdapter:
    """Sends jobs as Celery messages through the app's broker connection pool."""

    def __init__(self) -> None:
        # Queues this process has declared, per app. Celery declares the queue on every
        # publish (kombu then copies and binds the Queue entity: ~0.1 ms per message, more
        # than the rest of the enqueue); once per process is enough, as messages go
        # straight to the queue's list.
        self._declared: set[tuple[int, str | None]] = set()
        self._origin = anon_nodename()  # Celery computes it per message

    def _declare_once(self, app: Celery, queue: str | None, options: dict[str, Any]) -> tuple[int, str | None] | None:
        key = (id(app), queue)
        if key in self._declared:
            options["declare"] = []
            return None
        return key

    def message(self, app: Celery, job: SerializedJob, eta: bool = True) -> tuple[str, Any, dict[str, Any]]:
        """Build the Celery message for a serialized job; ``eta=False`` leaves its time out."""
        root_id = parent_id = None
        parent = current_worker_request()
        if parent is not None:  # keep Celery's parent/root links for jobs enqueued by jobs
            root_id = parent.root_id or parent.id
            parent_id = parent.id
        settings = settings_for(app)
        shown = settings.log_arguments if job.log_arguments is None else job.log_arguments
        message = app.amqp.create_task_message(
            job.job_id,
            job.task,
            job.args,
            job.kwargs,
            eta=job.scheduled_at if eta else None,
            # A retry enqueued by perform_now carries the executions so far, as Celery's retry does.
            retries=job.executions,
            reply_to=app.thread_oid,
            create_sent_event=settings.send_sent_event,
            origin=self._origin,
            root_id=root_id,
            parent_id=parent_id,
            argsrepr=(repr(job.arguments) if shown else _FILTERED) + job.progress_note,
            kwargsrepr=repr(job.keyword_arguments) if shown else _FILTERED,
            # None: the worker's job class decides whether its result is stored (Job.store_result).
            ignore_result=None,
        )
        headers: dict[str, Any] = {HEADER: job.header(), **job.controls}
        options: dict[str, Any] = {"queue": job.queue, "headers": headers}
        if job.priority is not None:
            options["priority"] = job.priority
        return job.task, message, options

    def enqueue(self, app: Celery, job: Enqueueable) -> None:
        self._enqueue(app, job.serialize())

    def _enqueue(self, app: Celery, job: SerializedJob) -> None:
        if job.scheduled_at is not None and self._delayed(app, job.scheduled_at):
            return self._schedule(app, job)
        name, message, options = self.message(app, job)
        # Sent through Celery's amqp layer rather than Task.apply_async: jobs
        # return themselves, not an AsyncResult, so the result backend's
        # per-call subscription (two Redis round trips) is skipped;
        # job.async_result still works.
        declaring = self._declare_once(app, job.queue, options)
        try:
            with app.producer_or_acquire(None) as producer:
                app.amqp.send_task_message(producer, name, message, **options)
        except (DuplicateJobError, NotReplicatedError):
            raise  # @unique: nothing was sent; not replicated: it was (each says so itself)
        except Exception as exc:
            raise EnqueueError(
                f"Could not enqueue {job.label} to {job.queue}: "
                f"{type(exc).__name__}: {exc}. Is the broker at {masked_url(app.conf.broker_url)!r} reachable?"
            ) from exc
        if declaring:
            self._declared.add(declaring)

    def _delayed(self, app: Celery, at: dt.datetime) -> bool:
        """A job due at ``at`` goes to the scheduled set, not into a worker's memory as an ETA message."""
        settings = settings_for(app)
        return settings.uses_redis and (at - dt.datetime.now(dt.UTC)).total_seconds() > settings.scheduled_threshold

    def _schedule(self, app: Celery, job: SerializedJob) -> None:
        """Store a delayed job in the scheduled set (``broker.scheduled.scheduled_set``) instead of sending it."""
        assert job.scheduled_at is not None
        name, message, options = self.message(app, job, eta=False)
        declaring = self._declare_once(app, job.queue, options)  # as enqueue: once per process
        try:
            with app.producer_or_acquire(None) as producer:
                channel = producer.channel
                kombu_compat.check_redis_channel(channel)
                if declaring:
                    producer.maybe_declare(app.amqp.queues[options["queue"]])
                key, envelope = _redis_envelope(app, channel, name, message, options)
                uniq = options["headers"].get(UNIQUE_HEADER)
                lock = (uniq["key"], uniq["ttl_ms"]) if uniq else None
                with channel.conn_or_acquire() as client:
                    holder = scheduled_set.add(
                        client, key, envelope, job.scheduled_at.timestamp(), job.job_id, options["queue"], unique=lock
                    )
                    if holder is None:
                        replicas.wait(client, replicas.of_channel(channel), f"{job.label} (scheduled)")
            if holder is not None:
                raise DuplicateJobError(
                    f"job {job.job_id} is a duplicate of job {holder}, which holds {lock[0]}",  # type: ignore[index]
                    job_id=job.job_id,
                    holder_id=holder,
                )
        except (DuplicateJobError, NotReplicatedError):
            raise
        except Exception as exc:
            raise EnqueueError(
                f"Could not schedule {job.label} for {job.scheduled_at}: "
                f"{type(exc).__name__}: {exc}. Is the broker at {masked_url(app.conf.broker_url)!r} reachable?"
            ) from exc
        if declaring:
            self._declared.add(declaring)

    def _prepare_generic(self, app: Celery, jobs: Iterable[SerializedJob]) -> list[tuple[str, Any, dict[str, Any]]]:
        # Every message is built before the first is sent.
        prepared = [self.message(app, job) for job in jobs]
        declaring = set()
        for _name, _message, options in prepared:
            key = self._declare_once(app, options["queue"], options)
            if key is not None and key not in declaring:
                declaring.add(key)  # the first message of each queue declares it
            elif key is not None:
                options["declare"] = []
        return prepared

    def _send_generic(self, app: Celery, chunk: Sequence[tuple[str, Any, dict[str, Any]]]) -> dict[str, str]:
        # Any broker: Celery's publish in a kombu batch; @unique jobs one by one (their lock is a script).
        send = app.amqp.send_task_message
        duplicates: dict[str, str] = {}
        # max_size above the chunk's command count: the chunk flushes once, at exit.
        with app.producer_or_acquire(None) as producer, producer.batch(max_size=4 * len(chunk) + 16):
            for name, message, options in chunk:
                if UNIQUE_HEADER not in options["headers"]:
                    send(producer, name, message, retry=False, **options)
        for name, message, options in chunk:
            if UNIQUE_HEADER in options["headers"]:
                try:
                    with app.producer_or_acquire(None) as producer:
                        send(producer, name, message, **options)
                except DuplicateJobError as exc:
                    duplicates[message.headers["id"]] = exc.holder_id
        self._declared.update((id(app), options["queue"]) for *_, options in chunk)  # once sent, as LeanSender
        return duplicates

    def _schedule_all(
        self, app: Celery, waits: list[tuple[Enqueueable, SerializedJob]], before: BeforeChunk | None
    ) -> None:
        if waits and before is not None:
            before([job for job, _ in waits])
        for job, serialized in waits:  # to the scheduled set, one by one (a rare case in bulk)
            self._schedule(app, serialized)
            job.successfully_enqueued = True
            logs.enqueued(job)

    def _prepare_all(self, app: Celery, jobs: Sequence[Enqueueable]) -> tuple[Sequence[Any], Callable[..., Any]]:
        lean = _lean_redis_sender(app, self)
        if lean is None:
            return self._prepare_generic(app, (job.serialize() for job in jobs)), functools.partial(
                self._send_generic, app
            )
        try:  # kombu's Redis transport: messages from templates, one pipeline per chunk
            return lean.prepare(job.serialize() for job in jobs), lean.send
        except OperationalError as exc:  # the broker is down: its connection opens here, nothing is sent
            raise EnqueueError(
                f"perform_all_later: could not enqueue any of the {len(jobs)} job(s): {type(exc).__name__}: {exc}"
            ) from exc

    def enqueue_all(
        self, app: Celery, jobs: Sequence[Enqueueable], batch_size: int, before: BeforeChunk | None = None
    ) -> None:
        # Every argument is checked before anything is stored: the delayed jobs' first, then the rest's
        # while their messages are built (each serialized just before its message, not all kept first).
        waits = [(job, job.serialize()) for job in jobs if job.scheduled_at and self._delayed(app, job.scheduled_at)]
        if waits:
            delayed = {id(job) for job, _ in waits}
            jobs = [job for job in jobs if id(job) not in delayed]
        # A batch registers the jobs while their messages are built (its Redis time overlaps ours); nothing
        # is sent before it is done.
        ahead = _Ahead(before, jobs, batch_size) if before is not None else None
        try:
            entries, send_chunk = self._prepare_all(app, jobs)
        except BaseException:
            if ahead is not None:  # done registering before the caller takes back what was not sent
                ahead.thread.join()
            raise
        if ahead is not None:
            ahead.wait()
        self._schedule_all(app, waits, before)
        for start in range(0, len(entries), batch_size):
            chunk = entries[start : start + batch_size]
            try:
                duplicates = send_chunk(chunk)
            except NotReplicatedError:  # written to the master: its jobs are enqueued, say so, then raise
                for job in jobs[start : start + batch_size]:
                    job.successfully_enqueued = True
                raise
            except Exception as exc:
                raise EnqueueError(
                    f"perform_all_later: could not enqueue jobs {start + 1}-{start + len(chunk)} of {len(entries)}: "
                    f"{type(exc).__name__}: {exc}. {start} job(s) before them were enqueued."
                ) from exc
            for job in jobs[start : start + batch_size]:
                if job.job_id in duplicates:
                    job.successfully_enqueued, job.duplicate_of = False, duplicates[job.job_id]
                    logs.duplicate(job)
                    continue
                job.successfully_enqueued = True
                logs.enqueued(job)


class _Ahead:
    """``before(chunk)`` for every chunk, in a thread of its own, while the caller builds the messages.

    ``wait()`` joins it and raises what it raised (then nothing is sent: the caller has not sent yet).
    """

    def __init__(self, before: BeforeChunk, jobs: Sequence[Enqueueable], batch_size: int) -> None:
        self.error: BaseException | None = None

        def run() -> None:
            try:
                for start in range(0, len(jobs), batch_size):
                    before(jobs[start : start + batch_size])
            except BaseException as exc:  # raised in the caller's thread by wait()
                self.error = exc

        self.thread = threading.Thread(target=run, name="conveyor-batch-register", daemon=True)
        self.thread.start()

    def wait(self) -> None:
        self.thread.join()
        if self.error is not None:
            raise self.error


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
