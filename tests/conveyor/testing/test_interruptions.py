"""``conveyor.testing.interruptions``: interrupting a continuable job in a test, as a stopping worker would."""

from __future__ import annotations

from typing import Any

import pytest

from conveyor import Job
from conveyor.jobs.continuation import Continuation
from conveyor.testing import EnqueuedJobs, interrupt_job_after_step, interrupt_job_during_step

ROWS: list[Any] = []


class RowsJob(Job):
    def perform(self, total: int) -> None:
        for _ in self.step("initialize"):
            ROWS.append("initialize")
        for step in self.step("process", start=0):
            for row in range(step.cursor, total):
                ROWS.append(row)
                step.advance()


class OtherRowsJob(RowsJob):
    pass


@pytest.fixture(autouse=True)
def _rows() -> Any:
    ROWS.clear()
    yield
    ROWS.clear()


def test_without_a_cursor_the_job_stops_at_the_first_checkpoint_of_the_step(enqueued_jobs: EnqueuedJobs) -> None:
    with interrupt_job_during_step(RowsJob, "process"):
        RowsJob.perform_now(3)
    assert ROWS == ["initialize", 0]
    assert enqueued_jobs.jobs[0].continuation == {"completed": ["initialize"], "current": ["process", 1]}


def test_only_jobs_of_the_class_given_are_interrupted(enqueued_jobs: EnqueuedJobs) -> None:
    # Given an interruption of OtherRowsJob
    with interrupt_job_during_step(OtherRowsJob, "process"):
        # When a job of its base class runs
        RowsJob.perform_now(2)
    # Then it runs to the end and nothing is enqueued again
    assert ROWS == ["initialize", 0, 1]
    enqueued_jobs.assert_no_enqueued_jobs()


def test_a_job_is_interrupted_once_so_it_finishes_when_resumed_inside_the_block(enqueued_jobs: EnqueuedJobs) -> None:
    with interrupt_job_after_step(RowsJob, "initialize"):
        RowsJob.perform_now(2)
        assert ROWS == ["initialize"]
        # When the resumed job runs inside the same block
        assert enqueued_jobs.perform_all() == 1
    # Then it was not interrupted a second time
    assert ROWS == ["initialize", 0, 1]
    enqueued_jobs.assert_no_enqueued_jobs()


def test_a_cursor_the_step_never_reaches_interrupts_nothing(enqueued_jobs: EnqueuedJobs) -> None:
    with interrupt_job_during_step(RowsJob, "process", cursor=99):
        RowsJob.perform_now(3)
    assert ROWS == ["initialize", 0, 1, 2]
    enqueued_jobs.assert_no_enqueued_jobs()


def test_the_hook_before_the_block_is_put_back_and_still_asked_inside(enqueued_jobs: EnqueuedJobs) -> None:
    # Given an outer interruption of another class
    before = Continuation.interrupt_when
    with interrupt_job_after_step(OtherRowsJob, "initialize"):
        outer = Continuation.interrupt_when
        # When an inner block interrupts RowsJob
        with interrupt_job_during_step(RowsJob, "process", cursor=1):
            OtherRowsJob.perform_now(2)  # the outer block's job
        # Then the outer block still applied inside, and is back after the inner one
        assert ROWS == ["initialize"]
        assert Continuation.interrupt_when is outer
    assert Continuation.interrupt_when is before
