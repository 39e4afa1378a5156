"""The jobs the tests use, in one place. Several are design.md's examples, quoted as written.

Jobs record what they see into ``RECORDER``; tests wait on it (an event, not a
sleep) because the worker thread runs in the same process.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable
from typing import Any

from conveyor import (
    Abort,
    Job,
    RecordNotFound,
    after_discard,
    after_enqueue,
    after_perform,
    around_enqueue,
    around_perform,
    before_enqueue,
    before_perform,
    discard_on,
    polynomially_longer,
    retry_on,
)


class Recorder:
    """A thread-safe list of records that tests can wait on."""

    def __init__(self) -> None:
        self._records: list[dict[str, Any]] = []
        self._changed = threading.Condition()

    def add(self, **record: Any) -> None:
        with self._changed:
            self._records.append({"at": time.monotonic(), **record})
            self._changed.notify_all()

    def clear(self) -> None:
        with self._changed:
            self._records.clear()

    @property
    def records(self) -> list[dict[str, Any]]:
        with self._changed:
            return list(self._records)

    def of(self, event: str) -> list[dict[str, Any]]:
        return [r for r in self.records if r.get("event") == event]

    def wait_for(
        self, predicate: Callable[[list[dict[str, Any]]], bool], timeout_s: float = 15.0
    ) -> list[dict[str, Any]]:
        with self._changed:
            if not self._changed.wait_for(lambda: predicate(self._records), timeout=timeout_s):
                raise AssertionError(f"timed out after {timeout_s} s; records: {self._records[-10:]!r}")
            return list(self._records)

    def wait_count(self, event: str, count: int, timeout_s: float = 15.0) -> list[dict[str, Any]]:
        self.wait_for(lambda records: sum(1 for r in records if r.get("event") == event) >= count, timeout_s)
        return self.of(event)


RECORDER = Recorder()


# --- design.md §2, "Retries and discards" -------------------------------------------------


class NetworkError(Exception):
    pass


class CustomError(Exception):
    pass


class Flaky(Exception):
    """Raised by RetryingJob on purpose."""


class AlwaysBroken(Exception):
    """Raised by ExhaustingJob on every run."""


@retry_on(Exception, wait=polynomially_longer, attempts=5)
@retry_on(NetworkError, wait=10, attempts=3)
@retry_on(CustomError, attempts=5, handler=lambda job, error: job.logger.warning("gave up: %s", error))
@discard_on(RecordNotFound)
class DataImportJob(Job):
    def perform(self, file_path: str) -> None:
        RECORDER.add(event="import", job_id=self.job_id, executions=self.executions, file_path=file_path)
        raise RecordNotFound(f"{file_path} is gone")


class ReportGenerationJob(Job):
    """The declarations of design.md §2's example (the service's job of that name does the work)."""

    queue_as = "low_priority"
    priority = 5

    def perform(self, report_id: int) -> None:
        RECORDER.add(event="report", job_id=self.job_id, report_id=report_id)


# --- design.md §2, "Callbacks" --------------------------------------------------------------


class DataProcessingJob(Job):
    @before_perform
    def log_start(self):  # type: ignore[no-untyped-def]
        self.logger.info("Starting job %s", self.job_id)

    @after_perform
    def log_completion(self):  # type: ignore[no-untyped-def]
        self.logger.info("Completed job %s", self.job_id)

    @around_perform
    def measure_time(self):  # type: ignore[no-untyped-def]
        start = time.monotonic()
        yield  # perform runs here
        self.logger.info("Job took %.3f seconds", time.monotonic() - start)

    def perform(self, data_id: int) -> int:
        return data_id * 2


# --- jobs for the worker tests ---------------------------------------------------------------


class EchoJob(Job):
    """Records its arguments with their exact types and its execution context."""

    def perform(self, *args: Any, **kwargs: Any) -> str:
        RECORDER.add(
            event="echo",
            job_id=self.job_id,
            args=args,
            kwargs=kwargs,
            executions=self.executions,
            queue=self.queue_name,
            priority=self.priority,
            enqueued_at=self.enqueued_at,
            scheduled_at=self.scheduled_at,
            ran_at=dt.datetime.now(dt.UTC),
        )
        return "echoed"


class SecretJob(Job):
    log_arguments = False

    def perform(self, password: str) -> None:
        RECORDER.add(event="secret", length=len(password))


class CountJob(Job):
    def perform(self, n: int) -> None:
        RECORDER.add(event="count", n=n)


@retry_on(Flaky, wait=0.5, attempts=4, jitter=0)
class RetryingJob(Job):
    """Fails ``failures`` times, then succeeds."""

    def perform(self, failures: int) -> str:
        RECORDER.add(
            event="attempt",
            job_id=self.job_id,
            executions=self.executions,
            counters=dict(self.exception_executions),
            at_wall=time.time(),
        )
        if self.executions <= failures:
            raise Flaky(f"failure {self.executions}")
        return "done"


@retry_on(Flaky, wait=2, attempts=2, jitter=0)
class SlowRetryJob(Job):
    def perform(self) -> None:
        RECORDER.add(event="slow-attempt", executions=self.executions, at_wall=time.time())
        if self.executions == 1:
            raise Flaky("first run fails")


@retry_on(AlwaysBroken, wait=0, attempts=3, jitter=0)
class ExhaustingJob(Job):
    @after_discard
    def note(self, error):  # type: ignore[no-untyped-def]
        RECORDER.add(event="after_discard", job_id=self.job_id, error=type(error).__name__)

    def perform(self) -> None:
        RECORDER.add(event="exhausting", executions=self.executions)
        raise AlwaysBroken(f"broken on run {self.executions}")


@retry_on(Flaky, wait=0, attempts=2, jitter=0, queue="retries", priority=1)
class RequeueJob(Job):
    def perform(self) -> None:
        RECORDER.add(event="requeue", executions=self.executions, queue=self.queue_name, priority=self.priority)
        if self.executions == 1:
            raise Flaky("go to the retries queue")


@discard_on(RecordNotFound)
class DiscardingJob(Job):
    @after_discard
    def note(self, error):  # type: ignore[no-untyped-def]
        RECORDER.add(event="after_discard", job_id=self.job_id, error=type(error).__name__)

    def perform(self, record_id: int) -> None:
        RECORDER.add(event="discarding", executions=self.executions)
        raise RecordNotFound(f"record {record_id} is gone")


class UnhandledJob(Job):
    @after_discard
    def note(self, error):  # type: ignore[no-untyped-def]
        RECORDER.add(event="after_discard", job_id=self.job_id, error=type(error).__name__)

    def perform(self) -> None:
        raise ValueError("nobody handles this")


# --- callback order, with inheritance ---------------------------------------------------------


class ApplicationJob(Job):
    """A base class of jobs, as in Rails; abstract because it has no perform."""

    @before_enqueue
    def base_before_enqueue(self):  # type: ignore[no-untyped-def]
        RECORDER.add(event="cb", name="base.before_enqueue")

    @before_perform
    def base_before_perform(self):  # type: ignore[no-untyped-def]
        RECORDER.add(event="cb", name="base.before_perform")

    @around_perform
    def base_around_perform(self):  # type: ignore[no-untyped-def]
        RECORDER.add(event="cb", name="base.around_perform:before")
        yield
        RECORDER.add(event="cb", name="base.around_perform:after")

    @after_perform
    def base_after_perform(self):  # type: ignore[no-untyped-def]
        RECORDER.add(event="cb", name="base.after_perform")


class OrderedJob(ApplicationJob):
    @before_enqueue
    def own_before_enqueue(self):  # type: ignore[no-untyped-def]
        RECORDER.add(event="cb", name="own.before_enqueue")

    @around_enqueue
    def own_around_enqueue(self):  # type: ignore[no-untyped-def]
        RECORDER.add(event="cb", name="own.around_enqueue:before")
        yield
        RECORDER.add(event="cb", name="own.around_enqueue:after")

    @after_enqueue
    def own_after_enqueue(self):  # type: ignore[no-untyped-def]
        RECORDER.add(event="cb", name="own.after_enqueue")

    @before_perform
    def own_before_perform(self):  # type: ignore[no-untyped-def]
        RECORDER.add(event="cb", name="own.before_perform")

    @around_perform
    def own_around_perform(self):  # type: ignore[no-untyped-def]
        RECORDER.add(event="cb", name="own.around_perform:before")
        yield
        RECORDER.add(event="cb", name="own.around_perform:after")

    @after_perform
    def own_after_perform(self):  # type: ignore[no-untyped-def]
        RECORDER.add(event="cb", name="own.after_perform")

    def perform(self, label: str) -> None:
        RECORDER.add(event="cb", name=f"perform:{label}")


class HaltingEnqueueJob(Job):
    @before_enqueue
    def refuse(self):  # type: ignore[no-untyped-def]
        raise Abort("not today")

    def perform(self) -> None:
        RECORDER.add(event="should-not-run")


class HaltingPerformJob(Job):
    @before_perform
    def refuse(self):  # type: ignore[no-untyped-def]
        raise Abort("not today")

    @after_perform
    def after(self):  # type: ignore[no-untyped-def]
        RECORDER.add(event="after-halted")

    def perform(self) -> None:
        RECORDER.add(event="should-not-run")


class QueueProbeJob(Job):
    """Records which queue it ran from, in execution order."""

    def perform(self, label: str) -> None:
        RECORDER.add(event="probe", queue=self.queue_name, priority=self.priority, label=label)


class TickJob(Job):
    """Run by beat in the schedule tests."""

    def perform(self, label: str = "tick") -> None:
        RECORDER.add(event=label, queue=self.queue_name, priority=self.priority, job_id=self.job_id)


class ImmediateJob(Job):
    """Opts out of enqueue-after-commit."""

    enqueue_after_transaction_commit = False

    def perform(self, n: int) -> None:
        RECORDER.add(event="immediate", n=n)


# --- async def perform on a worker (tests/conveyor/jobs/test_execution_on_a_worker.py) -----------------


class AsyncChildJob(Job):
    """Records the Celery parent of the task it runs as (Celery's request is per thread: read in a sync callback)."""

    @before_perform
    def record_parent(self) -> None:
        RECORDER.add(event="async child", parent_id=self._task.request.parent_id if self._task else None)

    async def perform(self) -> None:
        pass


class AsyncRetryJobJob(Job):
    """Calls retry_job() from its coroutine on its first run; records each run."""

    async def perform(self) -> None:
        RECORDER.add(event="async retry_job run", executions=self.executions)
        if self.executions == 1:
            self.retry_job(wait=0.1)


class AsyncParentJob(Job):
    """Enqueues a child from its coroutine: the child's message names this job as its parent."""

    async def perform(self) -> None:
        child = await AsyncChildJob.aperform_later()
        RECORDER.add(event="async parent", job_id=self.job_id, child=child.job_id)
