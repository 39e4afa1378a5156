"""Continuable jobs in-process (the test adapter): ActiveJob 8.1's rules for steps, cursors and resumptions.

The same behaviour on real worker processes sent SIGTERM is in ``tests/reliability/test_continuations.py``.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import pytest

from conveyor import DeclarationError, InvalidStepError, Job, ResumeLimitError, discard_on, retry_on
from conveyor.errors import Interrupt, UnadvanceableCursorError
from conveyor.jobs import stopping
from conveyor.testing import EnqueuedJobs, interrupt_job_after_step, interrupt_job_during_step

DONE: list[Any] = []


class ImportJob(Job):
    def perform(self, total: int) -> None:
        DONE.append("always")
        for _ in self.step("initialize"):
            DONE.append("initialize")
        for step in self.step("process", start=0):
            for row in range(step.cursor, total):
                DONE.append(row)
                step.advance()
        self.step("finalize", self.finalize)

    def finalize(self) -> None:
        DONE.append("finalize")


@pytest.fixture(autouse=True)
def _clean() -> Any:
    DONE.clear()
    yield
    stopping.set_stopping(stopping.RUNNING)


def test_steps_run_in_order_once_each(enqueued_jobs: EnqueuedJobs) -> None:
    ImportJob.perform_now(3)
    assert DONE == ["always", "initialize", 0, 1, 2, "finalize"]
    enqueued_jobs.assert_no_enqueued_jobs()


def test_an_interrupted_job_is_enqueued_again_with_its_progress_and_resumes_at_the_cursor(
    enqueued_jobs: EnqueuedJobs, caplog: pytest.LogCaptureFixture
) -> None:
    with interrupt_job_during_step(ImportJob, "process", cursor=2):
        job = ImportJob(5)
        assert job.perform_now() is None
    assert DONE == ["always", "initialize", 0, 1]
    resumed = enqueued_jobs.assert_enqueued_with(job=ImportJob, args=(5,))
    assert resumed.job_id == job.job_id, "the same job, not a new one"
    assert resumed.continuation == {"completed": ["initialize"], "current": ["process", 2]}
    assert resumed.executions == 1, "not counted as a retry of any retry_on declaration"
    DONE.clear()
    with caplog.at_level(logging.INFO, logger="conveyor"):
        enqueued_jobs.perform_all()
    assert DONE == ["always", 2, 3, 4, "finalize"], "initialize skipped, process resumed at 2"
    assert "Resuming ImportJob" in caplog.text
    assert "at step 'process', cursor 2 (resumption 1)" in caplog.text


def test_interrupting_after_a_step_skips_it_on_resume(enqueued_jobs: EnqueuedJobs) -> None:
    with interrupt_job_after_step(ImportJob, "initialize"):
        ImportJob.perform_now(2)
    assert DONE == ["always", "initialize"]
    assert enqueued_jobs.jobs[0].continuation == {"completed": ["initialize"]}
    DONE.clear()
    enqueued_jobs.perform_all()
    assert DONE == ["always", 0, 1, "finalize"]


def test_a_stopping_worker_interrupts_at_the_next_checkpoint_not_before_the_first_step(
    enqueued_jobs: EnqueuedJobs,
) -> None:
    stopping.set_stopping(stopping.WARM)
    ImportJob.perform_now(3)
    # No checkpoint before the first step of an execution, nor until progress was made: one row is done.
    assert DONE == ["always", "initialize"]
    stopping.set_stopping(stopping.RUNNING)
    DONE.clear()
    enqueued_jobs.perform_all()
    assert DONE == ["always", 0, 1, 2, "finalize"]


def test_resumptions_count_and_max_resumptions_sends_the_job_to_failure(enqueued_jobs: EnqueuedJobs) -> None:
    class LimitedImportJob(ImportJob):
        max_resumptions = 1

    stopping.set_stopping(stopping.WARM)
    LimitedImportJob.perform_now(3)  # resumptions 0 < 1: enqueued again
    assert len(enqueued_jobs.jobs) == 1
    with pytest.raises(ResumeLimitError, match=r"resumed 1 times \(max_resumptions = 1\)"):
        enqueued_jobs.perform_all()  # its second execution is resumption 1, interrupted again


def test_an_error_after_progress_resumes_instead_of_failing(enqueued_jobs: EnqueuedJobs) -> None:
    class FlakyImportJob(Job):
        resume_wait = 7

        def perform(self) -> None:
            for step in self.step("process", start=0):
                for row in range(step.cursor, 4):
                    if row == 2 and self.resumptions == 0:
                        raise ConnectionError("lost the database")
                    DONE.append(row)
                    step.advance()

    FlakyImportJob.perform_now()
    entry = enqueued_jobs.assert_enqueued_with(job=FlakyImportJob)
    assert entry.continuation == {"completed": [], "current": ["process", 2]}
    assert entry.at is not None
    assert abs((entry.at - dt.datetime.now(dt.UTC)).total_seconds() - 7) < 1, "after resume_wait"
    enqueued_jobs.perform_all()
    assert DONE == [0, 1, 2, 3]


def test_an_error_before_any_progress_goes_to_retry_on_and_the_retry_keeps_the_progress(
    enqueued_jobs: EnqueuedJobs,
) -> None:
    @retry_on(ConnectionError, wait=1, attempts=2)
    class EarlyFailingJob(Job):
        def perform(self) -> None:
            for step in self.step("process", start=0):
                raise ConnectionError(f"at {step.cursor}")

    EarlyFailingJob.perform_now()
    entry = enqueued_jobs.assert_enqueued_with(job=EarlyFailingJob)
    assert entry.meta["exception_executions"], "a retry_on retry, counted"
    # As in ActiveJob, a retry carries the progress too: completed steps stay completed.
    assert entry.continuation == {"completed": [], "current": ["process", 0]}


def test_resume_errors_after_advancing_false_hands_the_error_to_discard_on(enqueued_jobs: EnqueuedJobs) -> None:
    @discard_on(ConnectionError)
    class StrictJob(Job):
        resume_errors_after_advancing = False

        def perform(self) -> None:
            for step in self.step("process", start=0):
                step.advance()
                raise ConnectionError("gone")

    assert StrictJob.perform_now() is None
    enqueued_jobs.assert_no_enqueued_jobs()


def test_steps_cannot_nest_repeat_or_change_order() -> None:
    class NestedJob(Job):
        def perform(self) -> None:
            for _ in self.step("outer"):
                for _ in self.step("inner"):
                    pass

    class RepeatedJob(Job):
        def perform(self) -> None:
            for _ in self.step("a"):
                pass
            for _ in self.step("a"):
                pass

    with pytest.raises(InvalidStepError, match="'inner' is nested inside step 'outer'"):
        NestedJob.perform_now()
    with pytest.raises(InvalidStepError, match="'a' was already run"):
        RepeatedJob.perform_now()

    class ReorderedJob(Job):
        def perform(self) -> None:
            for _ in self.step("b"):
                pass

    job = ReorderedJob._from_message("id-1", [], {}, _header({"completed": ["a"]}), 0)
    with pytest.raises(InvalidStepError, match="'b' found where step 'a' ran before"):
        job._execute()


def test_a_with_statement_gets_an_error_naming_the_for_form() -> None:
    class WithJob(Job):
        def perform(self) -> None:
            with self.step("process"):
                pass

    with pytest.raises(TypeError, match=r"for step in self.step\('process'\)"):
        WithJob.perform_now()


def test_advance_without_a_value_needs_an_int_cursor_and_cursors_must_be_serializable() -> None:
    class NoStartJob(Job):
        def perform(self) -> None:
            for step in self.step("process"):
                step.advance()

    class ObjectCursorJob(Job):
        def perform(self) -> None:
            for step in self.step("process"):
                step.set(object())

    with pytest.raises(UnadvanceableCursorError, match="start=0"):
        NoStartJob.perform_now()
    with pytest.raises(Exception, match="the cursor of step 'process'"):
        ObjectCursorJob.perform_now()


def test_cursors_of_other_types_round_trip(enqueued_jobs: EnqueuedJobs) -> None:
    seen: list[Any] = []

    class TupleCursorJob(Job):
        def perform(self) -> None:
            for step in self.step("process", start=(0, dt.date(2026, 1, 1))):
                seen.append(step.cursor)
                step.set((1, dt.date(2026, 1, 2)))

    with interrupt_job_during_step(TupleCursorJob, "process"):
        TupleCursorJob.perform_now()
    enqueued_jobs.perform_all()
    assert seen == [(0, dt.date(2026, 1, 1)), (1, dt.date(2026, 1, 2))]


def test_interrupt_is_not_caught_by_except_exception() -> None:
    assert not issubclass(Interrupt, Exception)


def test_invalid_declarations_fail_at_class_definition() -> None:
    with pytest.raises(DeclarationError, match="max_resumptions must be an int"):

        class _BadLimit(Job):
            max_resumptions = -1

            def perform(self) -> None: ...

    with pytest.raises(DeclarationError, match="resume_wait must be seconds"):

        class _BadWait(Job):
            resume_wait = "soon"  # type: ignore[assignment]

            def perform(self) -> None: ...


def _header(progress: dict[str, Any]) -> Any:
    from conveyor.records import parse_job_header

    return parse_job_header({"continuation": progress, "resumptions": 0, "exception_executions": {}})


def test_the_progress_shows_with_the_arguments_in_flower_and_travels_in_the_header(celery_app: Any) -> None:
    from conveyor.jobs.adapters import CeleryAdapter

    job = ImportJob._from_message("id-2", [5], {}, _header({"completed": ["initialize"], "current": ["process", 2]}), 0)
    job.queue_name, job.arguments = "default", (5,)  # as after its execution rebuilt them
    _, message, options = CeleryAdapter().message(celery_app, job.serialize())
    assert message.headers["argsrepr"] == "(5,) [resumption 1, at step 'process', cursor 2]"
    assert options["headers"]["conveyor"]["continuation"] == {"completed": ["initialize"], "current": ["process", 2]}


class NeverFinishedJob(Job):
    """Interrupted in its step every time (by the test), resumable once."""

    max_resumptions = 0

    def perform(self) -> None:
        for step in self.step("process", start=0):
            step.advance()


def test_past_max_resumptions_a_job_in_a_real_worker_goes_to_the_dead_set(celery_app: Any, redis_client: Any) -> None:
    import threading

    from celery import signals

    from conveyor.broker.dead.dead_set import DeadSet
    from conveyor.testing import worker_thread

    failed = threading.Event()

    def on_failure(sender: Any = None, **_: Any) -> None:  # after conveyor's receiver wrote the dead record
        failed.set()

    signals.task_failure.connect(on_failure, weak=False)
    try:
        with interrupt_job_during_step(NeverFinishedJob, "process"), worker_thread(celery_app, queues=["default"]):
            job = NeverFinishedJob.perform_later()
            assert failed.wait(15), "the job did not fail"
    finally:
        signals.task_failure.disconnect(on_failure)
    record = DeadSet(redis_client).get(job.job_id)
    assert record is not None
    assert record["error"].startswith("ResumeLimitError: NeverFinishedJob was resumed 0 times (max_resumptions = 0)")
    assert "at step 'process', cursor 1" in record["error"]
