"""The test helpers: every assertion, and the failure messages that say what happened instead."""

from __future__ import annotations

import datetime as dt

import pytest

from conveyor import SerializationError, perform_all_later
from conveyor.testing import EnqueuedJobs
from tests.jobs import CountJob, EchoJob, Recorder, ReportGenerationJob, RetryingJob

UTC = dt.UTC


def test_recorded_jobs_are_not_sent(enqueued_jobs: EnqueuedJobs) -> None:
    job = EchoJob.perform_later(1)
    assert job.successfully_enqueued is True
    [entry] = enqueued_jobs.jobs
    assert (entry.job_class, entry.job_id, entry.args, entry.queue, entry.priority) == (
        EchoJob,
        job.job_id,
        (1,),
        "default",
        5,
    )


def test_assert_enqueued_with_matches_on_every_given_criterion(enqueued_jobs: EnqueuedJobs) -> None:
    tomorrow_noon = dt.datetime.combine(dt.date.today() + dt.timedelta(days=1), dt.time(12), tzinfo=UTC)
    ReportGenerationJob.set(wait_until=tomorrow_noon, priority=1).perform_later(7)
    EchoJob.perform_later("a", flag=True)

    entry = enqueued_jobs.assert_enqueued_with(job=ReportGenerationJob, args=[7], priority=1, at=tomorrow_noon)
    assert entry.at == tomorrow_noon
    enqueued_jobs.assert_enqueued_with(job=EchoJob, kwargs={"flag": True})
    enqueued_jobs.assert_enqueued_with(queue="low_priority")


def test_a_failed_match_lists_the_potential_matches(enqueued_jobs: EnqueuedJobs) -> None:
    ReportGenerationJob.perform_later(43)
    ReportGenerationJob.set(queue="high_priority").perform_later(42)

    with pytest.raises(AssertionError) as caught:
        enqueued_jobs.assert_enqueued_with(job=ReportGenerationJob, args=(42,), queue="low_priority")

    assert str(caught.value) == (
        "No enqueued job found with job=ReportGenerationJob, args=(42,), queue='low_priority'\n\n"
        "Potential matches: ReportGenerationJob(args=(43,), kwargs={}, queue='low_priority', priority=5, at=None)\n"
        "                   ReportGenerationJob(args=(42,), kwargs={}, queue='high_priority', priority=5, at=None)"
    )


def test_a_failed_match_on_a_class_never_enqueued_names_the_classes_that_were(enqueued_jobs: EnqueuedJobs) -> None:
    EchoJob.perform_later(1)
    CountJob.perform_later(2)
    with pytest.raises(
        AssertionError,
        match=r"No jobs of class ReportGenerationJob were enqueued, job classes enqueued: CountJob, EchoJob$",
    ):
        enqueued_jobs.assert_enqueued_with(job=ReportGenerationJob)


def test_a_failed_match_with_nothing_enqueued_says_so(enqueued_jobs: EnqueuedJobs) -> None:
    with pytest.raises(AssertionError, match=r"No jobs were enqueued\.$"):
        enqueued_jobs.assert_enqueued_with(job=EchoJob, args=(1,))


def test_assert_enqueued_jobs_counts_per_class_and_queue(enqueued_jobs: EnqueuedJobs) -> None:
    perform_all_later([CountJob(n) for n in range(3)])
    ReportGenerationJob.perform_later(1)

    enqueued_jobs.assert_enqueued_jobs(4)
    enqueued_jobs.assert_enqueued_jobs(3, only=CountJob)
    enqueued_jobs.assert_enqueued_jobs(1, queue="low_priority")
    enqueued_jobs.assert_enqueued_jobs(4, only=[CountJob, ReportGenerationJob])
    assert enqueued_jobs.count(only=CountJob, queue="default") == 3
    enqueued_jobs.assert_no_enqueued_jobs(only=EchoJob)

    with pytest.raises(AssertionError) as caught:
        enqueued_jobs.assert_enqueued_jobs(2, only=CountJob)
    assert str(caught.value).startswith(
        "2 job(s) of CountJob expected to be enqueued, but 3 were.\nEnqueued:\n  CountJob(args=(0,)"
    )


def test_assert_no_enqueued_jobs_lists_what_was_enqueued(enqueued_jobs: EnqueuedJobs) -> None:
    EchoJob.perform_later("x")
    with pytest.raises(
        AssertionError,
        match=r"0 job\(s\) on queue 'default' expected to be enqueued, but 1 were\.\n"
        r"Enqueued:\n  EchoJob\(args=\('x',\)",
    ):
        enqueued_jobs.assert_no_enqueued_jobs(queue="default")


def test_unserializable_arguments_still_fail_under_the_test_adapter(enqueued_jobs: EnqueuedJobs) -> None:
    with pytest.raises(SerializationError, match=r"argument 1 is a builtins\.object"):
        EchoJob.perform_later(object())
    enqueued_jobs.assert_no_enqueued_jobs()


def test_perform_all_runs_jobs_with_rebuilt_arguments_and_the_jobs_they_enqueue(
    enqueued_jobs: EnqueuedJobs, recorder: Recorder
) -> None:
    when = dt.datetime(2026, 1, 1, tzinfo=UTC)
    EchoJob.perform_later((1, 2), when)
    RetryingJob.perform_later(2)  # fails twice: its retries are enqueued by the runs, and run too

    performed = enqueued_jobs.perform_all()

    assert performed == 4
    [echo] = recorder.of("echo")
    assert echo["args"] == ((1, 2), when)
    assert [a["executions"] for a in recorder.of("attempt")] == [1, 2, 3]
    enqueued_jobs.assert_no_enqueued_jobs()
    assert [entry.job_class for entry in enqueued_jobs.performed] == [EchoJob, RetryingJob, RetryingJob, RetryingJob]


def test_perform_all_with_at_runs_only_the_jobs_due_by_then(enqueued_jobs: EnqueuedJobs, recorder: Recorder) -> None:
    EchoJob.perform_later("now")
    EchoJob.set(wait=3600).perform_later("in an hour")

    assert enqueued_jobs.perform_all(at=dt.datetime.now(UTC) + dt.timedelta(minutes=1)) == 1

    assert [r["args"] for r in recorder.of("echo")] == [("now",)]
    enqueued_jobs.assert_enqueued_with(job=EchoJob, args=("in an hour",))


def test_clear_forgets_everything(enqueued_jobs: EnqueuedJobs) -> None:
    EchoJob.perform_later(1)
    enqueued_jobs.clear()
    enqueued_jobs.assert_no_enqueued_jobs()
