"""The test helper as complete as ActiveJob::TestHelper: block forms, performed jobs, filters, matchers."""

from __future__ import annotations

import datetime as dt

import pytest

from conveyor import register_serializer
from conveyor.testing import EnqueuedJobs
from tests.jobs import CountJob, EchoJob, ReportGenerationJob


class Account:
    """A record with a primary key and no equality: two loads of one row are different objects."""

    def __init__(self, id: int) -> None:
        self.id = id


register_serializer(Account, serialize=lambda account: account.id, deserialize=Account, name="tests.Account")


def test_expect_counts_only_what_the_block_enqueues(enqueued_jobs: EnqueuedJobs) -> None:
    CountJob.perform_later(0)
    with enqueued_jobs.expect(2, only=CountJob):
        CountJob.perform_later(1)
        CountJob.perform_later(2)
        EchoJob.perform_later("x")
    with enqueued_jobs.expect_none(queue="low_priority"):
        CountJob.perform_later(3)
    expected = r"1 job\(s\) of CountJob expected to be enqueued by the block, but 0"
    with pytest.raises(AssertionError, match=expected), enqueued_jobs.expect(1, only=CountJob):
        EchoJob.perform_later("y")


def test_only_and_except_take_a_class_a_list_or_a_callable(enqueued_jobs: EnqueuedJobs) -> None:
    CountJob.perform_later(1)
    CountJob.perform_later(50)
    EchoJob.perform_later("x")
    ReportGenerationJob.perform_later(7)
    enqueued_jobs.assert_enqueued_jobs(3, only=[CountJob, ReportGenerationJob])
    enqueued_jobs.assert_enqueued_jobs(2, except_=CountJob)
    enqueued_jobs.assert_enqueued_jobs(1, only=lambda entry: entry.job_class is CountJob and entry.args[0] > 10)
    enqueued_jobs.assert_enqueued_jobs(1, except_=[CountJob, EchoJob], queue="low_priority")
    with pytest.raises(AssertionError, match="except CountJob"):
        enqueued_jobs.assert_no_enqueued_jobs(except_=CountJob)


def test_arguments_are_compared_as_they_travel(enqueued_jobs: EnqueuedJobs) -> None:
    EchoJob.perform_later(Account(7), when=dt.date(2026, 1, 2))
    # A record loaded again (another object, same key) is the same argument.
    enqueued_jobs.assert_enqueued_with(job=EchoJob, args=(Account(7),), kwargs={"when": dt.date(2026, 1, 2)})
    with pytest.raises(AssertionError, match="Potential matches"):
        enqueued_jobs.assert_enqueued_with(job=EchoJob, args=(Account(8),))


def test_every_criterion_accepts_a_matcher(enqueued_jobs: EnqueuedJobs) -> None:
    ReportGenerationJob.set(wait=60, priority=2).perform_later(41)
    enqueued_jobs.assert_enqueued_with(
        job=lambda cls: cls.__name__.endswith("GenerationJob"),
        args=lambda args: args[0] > 40,
        kwargs=lambda kwargs: kwargs == {},
        queue=lambda queue: queue.endswith("priority"),
        priority=lambda priority: priority < 3,
        at=lambda at: at is not None and at > dt.datetime.now(dt.UTC),
    )
    with pytest.raises(AssertionError, match=r"No enqueued job found with args=<lambda> \(a matcher\)"):
        enqueued_jobs.assert_enqueued_with(args=lambda args: args[0] < 0)


def test_performed_assertions_and_their_block_form(enqueued_jobs: EnqueuedJobs) -> None:
    with enqueued_jobs.expect_performed(2, only=CountJob):
        CountJob.perform_later(1)
        CountJob.perform_later(2)
        EchoJob.perform_later("stays enqueued")
    enqueued_jobs.assert_performed_jobs(2)
    enqueued_jobs.assert_performed_with(job=CountJob, args=(2,))
    enqueued_jobs.assert_no_performed_jobs(only=EchoJob)
    enqueued_jobs.assert_enqueued_jobs(1, only=EchoJob)
    with enqueued_jobs.expect_no_performed(only=ReportGenerationJob):
        CountJob.perform_later(3)
    with pytest.raises(AssertionError, match="No performed job found with job=EchoJob"):
        enqueued_jobs.assert_performed_with(job=EchoJob)


def test_perform_all_takes_the_same_filters(enqueued_jobs: EnqueuedJobs) -> None:
    CountJob.perform_later(1)
    EchoJob.perform_later("x")
    ReportGenerationJob.perform_later(7)
    assert enqueued_jobs.perform_all(except_=EchoJob, queue="low_priority") == 1
    assert enqueued_jobs.perform_all(only=CountJob) == 1
    assert [entry.job_class for entry in enqueued_jobs.jobs] == [EchoJob]


def test_the_with_assertions_have_block_forms_over_the_blocks_jobs(enqueued_jobs: EnqueuedJobs) -> None:
    CountJob.perform_later(1)
    with enqueued_jobs.expect_enqueued_with(job=CountJob, args=(2,)):
        CountJob.perform_later(2)
    expected = r"No enqueued job found with job=CountJob, args=\(1,\) among the jobs the block enqueued"
    with pytest.raises(AssertionError, match=expected), enqueued_jobs.expect_enqueued_with(job=CountJob, args=(1,)):
        CountJob.perform_later(3)  # (1,) was enqueued, but before the block
    enqueued_jobs.clear()
    with enqueued_jobs.expect_performed_with(job=EchoJob, kwargs={"flag": True}):
        EchoJob.perform_later("a", flag=True)
    assert enqueued_jobs.jobs == [], "the block's jobs were performed"
