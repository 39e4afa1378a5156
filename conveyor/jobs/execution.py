"""Running jobs: ``perform_now`` in-process, and the worker side of a Celery message.

Both paths run the same code: arguments are rebuilt, ``perform`` runs inside
the perform callbacks, and an error goes to the matching ``retry_on`` /
``discard_on`` declaration (see ``conveyor.jobs.error_handling``). In the worker a retry
is Celery's retry (same task id, RETRY state); in ``perform_now`` a retry is
enqueued (ActiveJob semantics) and ``perform_now`` returns None.

Example::

    ReportGenerationJob.perform_now(42)        # returns perform()'s value
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import datetime as dt
import inspect
import threading
import time
from typing import Any, Self

from celery.exceptions import Ignore, Reject, Retry

from conveyor.broker.batches import DEAD, DISCARDED, RETRYING, SUCCEEDED, check_batch_id
from conveyor.broker.fetch.handoff import hand_off
from conveyor.broker.views import metrics
from conveyor.errors import Abort, ContinuationError, Interrupt, ResumeLimitError
from conveyor.jobs import batch_scope, event_loop, logs
from conveyor.jobs.adapters import current_adapter
from conveyor.jobs.app_lookup import current_app, running_task
from conveyor.jobs.batch import Batch, batch_store
from conveyor.jobs.callbacks import run_chain
from conveyor.jobs.continuable import Continuable
from conveyor.jobs.controlled_run import run_controlled
from conveyor.jobs.core import _ClassOrInstanceMethod
from conveyor.jobs.enqueue_options import check_enqueue_options
from conveyor.jobs.error_handling import (
    DiscardDeclaration,
    RetryDeclaration,
    determine_delay,
    find_declaration,
    retries_left,
)
from conveyor.jobs.stopping import COLD, stopping_state
from conveyor.jobs.task import JobTask
from conveyor.records import HEADER, JobHeader, parse_job_header
from conveyor.serialization import deserialize_arguments
from conveyor.settings import redis_client, settings_for

__all__ = ["Execution"]

UTC = dt.UTC
# Celery's control-flow exceptions pass through untouched.
_CELERY_CONTROL = (Retry, Ignore, Reject)
#: What _perform_with_callbacks returns for a job a before/around_perform callback halted.
_HALTED = object()
#: A batch job's execution that did not end it (perform_now resumed it with its progress).
_NOT_ENDED = "-"


class _RetryRequested(Exception):
    """Ends an execution after ``retry_job``: in ``perform_now`` once it enqueued the job again; from a
    coroutine, carrying the retry to the worker's thread (Celery's request is per thread)."""

    def __init__(self, message: str, deferred: tuple[float, str | None, int | None, Exception] | None = None) -> None:
        super().__init__(message)
        self.deferred = deferred


class _Resumed(Retry):  # type: ignore[misc]
    """Celery's RETRY state for a job enqueued again with its progress (not counted as a failure)."""


def _batch_id(value: str) -> str | None:
    """A header's batch id, if it is one: a key is built from it (a forged one is ignored, and logged)."""
    try:
        return check_batch_id(value)
    except ValueError:
        logs.logger.warning("conveyor: ignored a message's batch header %r: not a batch id", value[:80])
        return None


def _parse_time(value: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value) if value else None


class Execution(Continuable):
    """Mixin: ``perform_now``, the worker entry point, and error handling."""

    def _perform_now_on_class(cls: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805 - bound by the descriptor
        return cls(*args, **kwargs).perform_now()

    def _perform_now_on_instance(self) -> Any:
        self._resolve_destination(self._options, settings_for(current_app()))
        return self._execute()

    perform_now: _ClassOrInstanceMethod[Any] = _ClassOrInstanceMethod(_perform_now_on_class, _perform_now_on_instance)
    perform_now.__doc__ = """Run the job in this process and return ``perform()``'s value.

    Callbacks and ``retry_on``/``discard_on`` apply as in the worker; a retry is
    enqueued (then None is returned). Unhandled errors propagate to the caller.
    ``Job.perform_now(*args)`` on the class, ``job.perform_now()`` on an instance.
    """

    @classmethod
    async def aperform_now(cls, *args: Any, **kwargs: Any) -> Any:
        """``perform_now`` for async code: the job runs here, its coroutines on the caller's event loop.

        The job's sync parts (callbacks, ``retry_on``, sends) run in a thread of their own (not the
        loop's executor, which the job's coroutines may need), so the loop is never blocked; ``async
        def perform`` and async callbacks run on this loop, with its clients. Cancelling the caller
        cancels the job's coroutine.

        Example::

            assert await FetchFeedJob.aperform_now("https://example.org/feed") == 12
        """
        loop = asyncio.get_running_loop()
        job = cls(*args, **kwargs)
        outcome: concurrent.futures.Future[Any] = concurrent.futures.Future()
        scopes: list[event_loop.JobScope] = []

        def perform_here() -> None:
            reset = event_loop.running_on(loop)
            try:
                outcome.set_result(job.perform_now())
            except BaseException as error:
                outcome.set_exception(error)
            finally:
                reset()

        context = contextvars.copy_context()
        context.run(event_loop.on_job_scope, scopes.append)
        threading.Thread(target=context.run, args=(perform_here,), name="conveyor-aperform-now", daemon=True).start()
        try:
            return await asyncio.wrap_future(outcome)
        except asyncio.CancelledError:
            for scope in scopes:  # the caller gave up: so does the job's coroutine
                if scope.task is not None:
                    scope.task.cancel()
            raise

    @classmethod
    def _perform_from_worker(cls, task: JobTask, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """Build the job from the Celery request and run it (called by ``JobTask.run``)."""
        request = task.request
        job = cls._from_message(
            request.id,
            list(args),
            kwargs,
            parse_job_header(getattr(request, HEADER, None)),
            request.retries,
            queue=(request.delivery_info or {}).get("routing_key"),
        )
        job._task, job._started_at = task, time.monotonic()
        running = running_task.set((task, request))  # for the job's coroutines, on the event loop's thread
        if metrics._client_factory is None and settings_for(task.app).uses_redis:
            metrics.configure(lambda: redis_client(task.app))  # this process's flushes (conveyor.broker.views.metrics)
        started, failed = time.perf_counter(), True
        try:
            run = job._execute_in_batch if job.batch_id is not None else job._execute
            result = run() if not cls._controlled else run_controlled(job, request, run)
            failed = False
            return result
        except _Resumed:
            failed = False  # enqueued again with its progress: not a failure
            raise
        finally:
            metrics.record(cls.__qualname__, time.perf_counter() - started, failed)
            running_task.reset(running)

    @classmethod
    def _from_message(
        cls,
        job_id: str,
        args: list[Any],
        kwargs: dict[str, Any],
        meta: JobHeader,
        retries: int,
        queue: str | None = None,
    ) -> Self:
        """A job as received: serialized arguments (rebuilt when it runs) and its header metadata."""
        job = cls.__new__(cls)
        job.job_id = job_id
        job.arguments, job.keyword_arguments = (), {}
        job._serialized = (args, kwargs)
        job._options = {}
        job.executions = retries
        job.exception_executions = dict(meta["exception_executions"])
        job.queue_name = meta["queue"] or queue
        job.priority = meta["priority"]
        job.enqueued_at = _parse_time(meta["enqueued_at"])
        job.scheduled_at = _parse_time(meta["scheduled_at"])
        job.successfully_enqueued = True
        if "continuation" in meta:
            job._progress, job.resumptions = meta["continuation"], meta["resumptions"]
        if "batch" in meta:
            job.batch_id = _batch_id(meta["batch"])
        return job

    @property
    def batch(self) -> Batch | None:
        """The batch this job is in (``conveyor.jobs.batch``), or None.

        Example::

            if self.batch is not None and self.batch.cancelled:
                return                       # the batch was cancelled: stop early
            with self.batch.jobs():          # more jobs in the batch, before this one ends
                NextPageJob.perform_later(page + 1)
        """
        return None if self.batch_id is None else Batch._handle(self.batch_id)

    def _execute_in_batch(self) -> Any:
        """``_execute``, then the job's end recorded in its batch: succeeded, discarded, dead, or retrying.

        Recorded before the worker acknowledges the message (one script keyed by job id: an execution
        delivered again finds its end recorded and changes nothing). A job resumed with its progress, a
        ``Reject(requeue=True)``, or a worker that dies records nothing: the job runs again. Celery's
        ``Ignore`` and a plain ``Reject`` end it as discarded.
        """
        assert self.batch_id is not None
        reset, outcome = batch_scope.running_in(self.batch_id), None
        try:
            result = self._execute()
            outcome = self._batch_outcome or SUCCEEDED
            return result
        except _Resumed:
            raise
        except Retry:
            outcome = RETRYING
            raise
        except Reject as rejected:  # dropped unless sent back to its queue: then it runs again
            outcome = None if getattr(rejected, "requeue", False) else DISCARDED
            raise
        except Ignore:  # acknowledged, never run again: given up on
            outcome = DISCARDED
            raise
        except Exception:
            outcome = DEAD
            raise
        finally:
            reset()
            if outcome is not None and outcome != _NOT_ENDED and not self._success_at_ack(outcome):
                self._record_batch_end(outcome)

    def _success_at_ack(self, outcome: str) -> bool:
        """A success in a worker that acknowledges after the run is recorded with the acknowledgement
        (``conveyor.jobs.worker_lost.JobRequest``): one script, no round trip here. Not for a job that
        stores its result: Celery could still fail it after the run (the store fails, its process dies)
        and acknowledge it as a failure; such a job records its success here, before."""
        task = self._task
        return (
            outcome == SUCCEEDED
            and task is not None
            and bool(task.acks_late)
            and bool(task.ignore_result)
            and not task.request.is_eager
        )

    def _record_batch_end(self, outcome: str) -> None:
        app = self._task.app if self._task is not None else current_app()
        try:
            batch_store(app).end(self.batch_id, self.job_id, outcome)
        except Exception as exc:  # the job's own outcome stands; the batch waits for a redelivery
            logs.logger.error(
                "conveyor: could not record the end (%s) of job %s in batch %s: %s: %s",
                outcome,
                self.job_id,
                self.batch_id,
                type(exc).__name__,
                exc,
            )

    def _execute(self) -> Any:
        if not type(self)._async_perform:  # the hot path of sync jobs stays as it was (an async callback
            return self._execute_in_scope()  # of a sync job runs in a context of its own, without limits)
        # The job's coroutines share one context and its time limits (conveyor.jobs.event_loop).
        reset_scope = event_loop.job_scope(event_loop.JobScope(*self._deadlines))
        try:
            return self._execute_in_scope()
        finally:
            reset_scope()

    def _execute_in_scope(self) -> Any:
        self.executions += 1
        started = time.perf_counter()
        try:
            if self._serialized is not None:
                self.arguments, self.keyword_arguments = deserialize_arguments(*self._serialized)
                self._serialized = None
            if self._progress is not None:
                self._start_continuation()
            logs.performing(self)
            result = self._perform_with_callbacks()
            if result is _HALTED:
                return None
        except Interrupt as interrupt:
            return self._resumed(interrupt, started)
        except _CELERY_CONTROL:
            raise
        except _RetryRequested as requested:
            return self._retry_requested(requested)  # perform_now: retry_job enqueued the job again
        except ContinuationError as error:
            return self._rescue(error, started)
        except Exception as error:
            if self._continuation is not None and self._resumes_after(error):
                return self._resumed(error, started)
            return self._rescue(error, started)
        logs.performed(self, (time.perf_counter() - started) * 1000)
        return result

    def _perform_with_callbacks(self) -> Any:
        """``perform`` inside its before/around/after_perform chain; ``_HALTED`` if a callback halted it."""
        chain = type(self)._chains["perform"]
        if chain.empty:
            return self._call_perform()
        outcome: list[Any] = []

        def body() -> Any:
            outcome.append(self._call_perform())
            return outcome[0]

        try:
            return run_chain(self, chain, body)
        except Abort:
            if not outcome:
                logs.perform_halted(self)
                return _HALTED
            return outcome[0]  # an Abort from after_perform changes nothing

    def _call_perform(self) -> Any:
        if not type(self)._async_perform:
            return self.perform(*self.arguments, **self.keyword_arguments)
        # On the process's event loop, within the job's time limits (conveyor.jobs.event_loop.JobScope).
        return event_loop.run(self.perform(*self.arguments, **self.keyword_arguments))

    def _awaited(self, value: Any) -> Any:
        """A handler's or hook's value; an ``async def`` one's coroutine run on the process's loop first.

        Handlers run after the job's error, which may be its soft limit: only the hard limit applies.
        """
        return event_loop.run(value, soft_limit=False) if inspect.iscoroutine(value) else value

    @property
    def _deadlines(self) -> tuple[float | None, float | None]:
        """When the job's soft and hard time limits pass (``time.monotonic()``), from its task's limits."""
        task, started = self._task, self._started_at
        if task is None or started is None or event_loop.pool_enforces_time_limits():
            return None, None  # perform_now: no limits, as for a sync job; prefork: billiard's signals
        hard, soft = getattr(task.request, "timelimit", None) or (None, None)
        hard, soft = hard or task.time_limit, soft or task.soft_time_limit
        return (started + soft if soft else None), (started + hard if hard else None)

    def _resumed(self, reason: BaseException, started: float) -> Any:
        """Enqueue the job again with its progress (conveyor.jobs.continuable); None in perform_now."""
        try:
            self._resume(reason)
        except ResumeLimitError as error:
            return self._rescue(error, started)
        task = self._task
        if task is None:
            self._batch_outcome = _NOT_ENDED  # enqueued again with its progress: not an end
            return None
        if stopping_state() == COLD:
            # The main process acknowledges nothing in a soft-shutdown window (conveyor.broker.fetch.handoff).
            tag = (task.request.properties or {}).get("delivery_tag")
            if tag:
                hand_off(task.app, str(tag))
        raise _Resumed(f"Resuming {self.continuation.description}", when=self.scheduled_at)

    def _rescue(self, error: Exception, started: float) -> Any:
        try:
            return self._handle(error, started)
        except _RetryRequested as requested:  # a handler called retry_job()
            return self._retry_requested(requested)

    def _retry_requested(self, requested: _RetryRequested) -> None:
        if requested.deferred is not None:  # asked for in a coroutine: sent from here, the worker's thread
            self._retry(*requested.deferred)

    def _handle(self, error: Exception, started: float) -> Any:
        self._handling = error  # the error a handler's retry_job() retries for
        declaration = find_declaration(type(self), error)
        if declaration is None:
            logs.perform_error(self, error, (time.perf_counter() - started) * 1000)
            self._run_after_discard(error)
            error._conveyor_reason = "failed"  # type: ignore[attr-defined]  # the job's own error (dead set)
            raise error
        if isinstance(declaration, DiscardDeclaration):
            self._batch_outcome = DISCARDED
            logs.discarded(self, error)
            if declaration.handler is not None:
                self._awaited(declaration.handler(self, error))
            self._run_after_discard(error)
            return None
        return self._retry_or_stop(declaration, error)

    def _retry_or_stop(self, declaration: RetryDeclaration, error: Exception) -> Any:
        count = self.exception_executions.get(declaration.key, 0) + 1
        self.exception_executions[declaration.key] = count
        if retries_left(declaration, count):
            jitter = declaration.jitter
            if jitter is None:
                jitter = settings_for(current_app()).retry_jitter
            wait_s = determine_delay(declaration.wait, count, jitter)
            logs.retrying(self, wait_s, error, count, declaration.attempts)
            self._retry_attempt = (count + 1, declaration.attempts)
            self._retry(wait_s, declaration.queue, declaration.priority, error)
            return None
        if declaration.handler is not None:
            self._batch_outcome = DISCARDED  # given up on, by its handler (unless it called retry_job)
            self._awaited(declaration.handler(self, error))
            return None
        logs.retry_stopped(self, error, count)
        self._run_after_discard(error)
        error._conveyor_reason = "retries exhausted"  # type: ignore[attr-defined]  # for the dead set
        raise error

    def retry_job(
        self,
        wait: float | dt.timedelta | None = None,
        queue: str | None = None,
        priority: int | None = None,
        error: Exception | None = None,
    ) -> None:
        """Run this job again, after ``wait``, on ``queue`` with ``priority`` (ActiveJob's ``retry_job``).

        Call it from ``perform`` or from a ``retry_on`` / ``discard_on`` handler: the current
        execution ends (in a worker, Celery's RETRY with the same job id; in ``perform_now``, the
        job is enqueued and ``perform_now`` returns None). ``executions`` carries on; no
        ``retry_on`` counter moves.

        Example::

            @retry_on(RateLimited, attempts=3, handler=lambda job, error: job.retry_job(wait=error.reset_in))
        """
        options = check_enqueue_options(wait=wait, queue=queue, priority=priority)
        self._retry_attempt = None  # no retry_on counter moves: no "of N"
        error = error or getattr(self, "_handling", None) or _RetryRequested("retry_job() was called")
        retry = (options.get("wait", 0.0), options.get("queue"), options.get("priority"), error)
        if event_loop.running_in_a_coroutine():  # the job's Celery request is the worker thread's
            raise _RetryRequested("retry_job() was called", deferred=retry)
        self._retry(*retry)
        raise _RetryRequested("retry_job() was called")

    def _retry(self, wait_s: float, queue: str | None, priority: int | None, error: Exception) -> None:
        self._retry_error = f"{type(error).__name__}: {error}"[:500]  # travels in the header (Retries page)
        queue = settings_for(current_app()).queue(queue) if queue else self.queue_name
        if priority is None:
            priority = self.priority
        task = self._task
        if task is None:  # perform_now: enqueue the retry, as ActiveJob does
            self._batch_outcome = RETRYING
            options: dict[str, Any] = {"wait": wait_s, "queue": queue}
            if priority is not None:
                options["priority"] = priority
            self.enqueue(**options)
            return
        now = dt.datetime.now(UTC)
        self.enqueued_at, self.scheduled_at = now, now + dt.timedelta(seconds=wait_s)
        self.queue_name, self.priority = queue, priority
        settings = settings_for(task.app)
        if settings.uses_redis and wait_s > settings.scheduled_threshold:
            # A long wait goes to the scheduled set, not into a worker's memory as an ETA
            # message (see conveyor.broker.scheduled.scheduled_set); same job id, executions carried on.
            current_adapter().enqueue(task.app, self)  # type: ignore[arg-type]  # self is a Job
            raise Retry(f"Retry in {wait_s:g}s (scheduled set)", exc=error, when=self.scheduled_at)
        retry_options: dict[str, Any] = {
            "countdown": wait_s,
            "queue": queue,
            "headers": {**(task.request.headers or {}), HEADER: self._header()},
        }
        if priority is not None:
            retry_options["priority"] = priority
        # Celery's retry: same task id, RETRY state, the message re-sent with retries + 1.
        raise task.retry(exc=error, **retry_options)

    def _run_after_discard(self, error: BaseException) -> None:
        for name in type(self)._chains["discard"].after:
            try:
                self._awaited(getattr(self, name)(error))
            except Exception as hook_error:  # a failing hook must not hide the job's own error
                logs.hook_failed(self, name, hook_error)
