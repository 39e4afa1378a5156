"""Enqueue after commit: a job enqueued inside an open transaction waits for the commit.

On the pack's test models (``tests/conveyor/sqlalchemy/models.py``), whose ``Session`` goes
through ``defer_enqueue_until_commit``.
"""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import select

from conveyor import Job, perform_all_later
from conveyor.testing import EnqueuedJobs
from tests.conveyor.sqlalchemy.jobs import CompleteReportJob
from tests.conveyor.sqlalchemy.models import Report, Session
from tests.jobs import CountJob, ImmediateJob


def test_a_job_enqueued_in_a_transaction_is_sent_when_it_commits(enqueued_jobs: EnqueuedJobs) -> None:
    with Session.begin() as session:
        report = Report(title="held")
        session.add(report)
        session.flush()
        job = CompleteReportJob.perform_later(report.id)

        assert job.successfully_enqueued is None  # held
        enqueued_jobs.assert_no_enqueued_jobs()
        session.flush()

    assert job.successfully_enqueued is True
    enqueued_jobs.assert_enqueued_with(job=CompleteReportJob, args=(report.id,))
    with Session() as session:  # the row the job needs is committed by the time it is sent
        assert session.scalar(select(Report.id).where(Report.id == report.id)) == report.id

    enqueued_jobs.perform_all()  # and the job finds it
    with Session() as session:
        assert session.scalar(select(Report.status).where(Report.id == report.id)) == "completed"


def test_a_rollback_drops_the_held_jobs_with_a_log_line(
    enqueued_jobs: EnqueuedJobs, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="conveyor")
    jobs: list[Job] = []

    def failing_request() -> None:
        with Session.begin() as session:
            session.add(Report(title="never"))
            jobs.append(CountJob.perform_later(1))
            raise RuntimeError("the request failed")

    with pytest.raises(RuntimeError):
        failing_request()
    [job] = jobs

    assert job.successfully_enqueued is False
    enqueued_jobs.assert_no_enqueued_jobs()
    assert f"Dropped CountJob (Job ID: {job.job_id}): the transaction it was enqueued in rolled back" in caplog.text
    with Session() as session:  # the rollback the log line speaks of
        assert session.scalar(select(Report.id).where(Report.title == "never")) is None


def test_bulk_and_opted_out_jobs(enqueued_jobs: EnqueuedJobs) -> None:
    with Session.begin() as session:
        session.add(Report(title="bulk"))
        assert perform_all_later([CountJob(n) for n in range(3)]) == 3
        ImmediateJob.perform_later(9)  # opted out: sent at once
        enqueued_jobs.assert_enqueued_jobs(1, only=ImmediateJob)
        enqueued_jobs.assert_no_enqueued_jobs(only=CountJob)

    enqueued_jobs.assert_enqueued_jobs(3, only=CountJob)


def test_a_savepoint_rollback_drops_only_the_jobs_enqueued_inside_it(enqueued_jobs: EnqueuedJobs) -> None:
    with Session.begin() as session:
        CountJob.perform_later(1)
        nested = session.begin_nested()
        dropped = CountJob.perform_later(2)
        nested.rollback()
        kept_nested = session.begin_nested()
        CountJob.perform_later(3)
        kept_nested.commit()
        enqueued_jobs.assert_no_enqueued_jobs()

    assert dropped.successfully_enqueued is False
    assert sorted(entry.args for entry in enqueued_jobs.jobs) == [(1,), (3,)]


def test_a_session_that_only_read_sends_its_jobs_when_it_closes(enqueued_jobs: EnqueuedJobs) -> None:
    with Session() as session:
        session.scalar(select(Report.id).limit(1))  # autobegins a transaction
        CountJob.perform_later(5)
        enqueued_jobs.assert_no_enqueued_jobs()

    enqueued_jobs.assert_enqueued_with(job=CountJob, args=(5,))


def test_outside_a_transaction_jobs_are_sent_at_once(enqueued_jobs: EnqueuedJobs) -> None:
    job = CountJob.perform_later(7)
    assert job.successfully_enqueued is True
    enqueued_jobs.assert_enqueued_with(job=CountJob, args=(7,))


def test_an_argument_that_cannot_travel_fails_at_enqueue_inside_a_transaction_too(enqueued_jobs: EnqueuedJobs) -> None:
    from conveyor.errors import SerializationError

    with Session.begin() as session:
        session.add(Report(title="kept"))
        with pytest.raises(SerializationError, match="object"):
            CountJob.perform_later(object())  # at perform_later, not in the code that commits
    enqueued_jobs.assert_no_enqueued_jobs()


class BatchFinishedJob(Job):
    def perform(self, batch: object) -> None:
        pass


def test_a_batch_opened_in_a_transaction_is_sealed_when_its_held_jobs_are_sent_at_commit(
    enqueued_jobs: EnqueuedJobs,
) -> None:
    from conveyor import Batch

    batch = Batch()
    with Session.begin() as session:
        session.add(Report(title="held"))
        with batch.jobs():
            CountJob.perform_later(1)
            perform_all_later([CountJob(2), CountJob(3)])
        # the block ended, its jobs wait for the commit: the batch is open, not finished (and empty)
        assert batch.status.state == "open"
        assert batch.status.total == 0
    # sent at the commit, then sealed: pending until they run
    assert (batch.status.state, batch.status.pending) == ("running", 3)
    enqueued_jobs.perform_all()
    assert (batch.status.finished, batch.status.succeeded) == (True, 3)


def test_a_batch_whose_transaction_rolled_back_stays_open_and_runs_no_callback(enqueued_jobs: EnqueuedJobs) -> None:
    from conveyor import Batch

    batch = Batch().on("finish", BatchFinishedJob)

    def failing_request() -> None:
        with Session.begin() as session:
            session.add(Report(title="never"))
            with batch.jobs():
                CountJob.perform_later(1)
            raise RuntimeError("the request failed")

    with pytest.raises(RuntimeError):
        failing_request()
    assert batch.status.state == "open"
    assert batch.status.total == 0
    enqueued_jobs.assert_no_enqueued_jobs()


def test_a_job_held_outside_any_block_is_in_no_batch_even_if_its_commit_runs_inside_one(
    enqueued_jobs: EnqueuedJobs,
) -> None:
    from conveyor import Batch

    batch = Batch()
    session = Session()
    session.begin()
    session.add(Report(title="held"))
    job = CountJob.perform_later(1)  # held, in no batch
    with batch.jobs():
        session.commit()  # sent here, inside another batch's block: it stays in none
        CountJob.perform_later(2)
    session.close()
    assert job.batch_id is None
    assert [entry.meta.get("batch") for entry in enqueued_jobs.jobs] == [None, batch.id]
    assert batch.status.total == 1
