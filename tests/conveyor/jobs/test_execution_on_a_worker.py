"""Jobs run by a real Celery worker (solo pool, in a thread) against the real Redis, on the pack's app."""

from __future__ import annotations

import datetime as dt
import enum
import logging
import uuid
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import redis

from conveyor import perform_all_later
from tests.jobs import (
    AlwaysBroken,
    CountJob,
    DataImportJob,
    DiscardingJob,
    EchoJob,
    ExhaustingJob,
    OrderedJob,
    Recorder,
    RequeueJob,
    RetryingJob,
    SlowRetryJob,
    UnhandledJob,
)

pytestmark = pytest.mark.redis
UTC = dt.UTC


class Size(enum.Enum):
    SMALL = "s"
    LARGE = "l"


@pytest.fixture
def running(worker: Any, redis_client: redis.Redis, recorder: Recorder) -> Recorder:
    """A worker is consuming, the test database is empty, the recorder is clear."""
    return recorder


def test_a_job_runs_in_the_worker_and_sees_its_arguments_with_exact_types(running: Recorder) -> None:
    when = dt.datetime(2026, 10, 25, 2, 30, tzinfo=ZoneInfo("Europe/Berlin"))
    args = (
        42,
        "x",
        None,
        1.5,
        [1, (2, 3)],
        {"k": Decimal("1.10")},
        when,
        dt.date(2026, 1, 2),
        dt.timedelta(hours=1),
        uuid.UUID(int=7),
        Size.LARGE,
        (1,),
    )

    job = EchoJob.perform_later(*args, flag=True)

    [record] = running.wait_count("echo", 1)
    assert record["job_id"] == job.job_id
    assert record["args"] == args
    assert [type(a) for a in record["args"]] == [type(a) for a in args]
    assert type(record["args"][4][1]) is tuple
    assert record["args"][6].tzinfo == ZoneInfo("Europe/Berlin")
    assert record["kwargs"] == {"flag": True}
    assert record["executions"] == 1
    assert record["queue"] == "default"
    assert record["enqueued_at"] == job.enqueued_at
    assert job.async_result.get(timeout=10) == "echoed"


def test_retries_keep_the_job_id_and_count_executions_per_attempt(
    running: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="conveyor")
    job = RetryingJob.perform_later(2)

    assert job.async_result.get(timeout=15) == "done"
    attempts = running.of("attempt")
    assert [a["executions"] for a in attempts] == [1, 2, 3]
    assert {a["job_id"] for a in attempts} == {job.job_id}
    key = "RetryingJob[Flaky]"
    assert [a["counters"] for a in attempts] == [{}, {key: 1}, {key: 2}]
    assert job.async_result.retries == 2  # Celery's own retry counter agrees
    retrying = [r.getMessage() for r in caplog.records if "] Retrying " in r.getMessage()]
    assert retrying == [
        f"[RetryingJob] [{job.job_id}] Retrying RetryingJob (Job ID: {job.job_id}) in 0.50 seconds due to "
        f"Flaky: failure {n} (attempt {n + 1}/4)"
        for n in (1, 2)
    ]


def test_a_retry_waits_at_least_its_wait(running: Recorder) -> None:
    SlowRetryJob.perform_later()

    first, second = running.wait_count("slow-attempt", 2)
    assert second["executions"] == 2
    assert second["at_wall"] - first["at_wall"] >= 2.0


def test_exhausted_retries_end_in_failure_with_the_original_error(
    running: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="conveyor")
    job = ExhaustingJob.perform_later()

    with pytest.raises(AlwaysBroken, match="broken on run 3"):
        job.async_result.get(timeout=15)
    assert job.async_result.state == "FAILURE"
    assert [r["executions"] for r in running.of("exhausting")] == [1, 2, 3]
    assert [r["error"] for r in running.of("after_discard")] == ["AlwaysBroken"]
    assert any(
        f"Stopped retrying ExhaustingJob (Job ID: {job.job_id}) due to AlwaysBroken: broken on run 3, "
        "which reoccurred on 3 attempts" in r.getMessage()
        for r in caplog.records
    )


def test_a_discard_does_not_retry_and_ends_in_success_with_a_log_line(
    running: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="conveyor")
    job = DiscardingJob.perform_later(9)

    assert job.async_result.get(timeout=10) is None
    assert job.async_result.state == "SUCCESS"
    assert len(running.of("discarding")) == 1
    assert [r["error"] for r in running.of("after_discard")] == ["RecordNotFound"]
    assert any(
        r.getMessage() == f"[DiscardingJob] [{job.job_id}] Discarded DiscardingJob (Job ID: {job.job_id}) "
        "due to RecordNotFound: record 9 is gone"
        for r in caplog.records
    )


def test_the_design_data_import_job_discards_record_not_found_in_the_worker(running: Recorder) -> None:
    job = DataImportJob.perform_later("missing.csv")

    assert job.async_result.get(timeout=10) is None
    assert job.async_result.state == "SUCCESS"
    assert [r["executions"] for r in running.of("import")] == [1]


def test_an_unhandled_error_is_a_failure_after_the_after_discard_hooks(running: Recorder) -> None:
    job = UnhandledJob.perform_later()

    with pytest.raises(ValueError, match="nobody handles this"):
        job.async_result.get(timeout=10)
    assert [r["error"] for r in running.of("after_discard")] == ["ValueError"]


def test_retry_on_queue_and_priority_send_the_retry_there(running: Recorder) -> None:
    RequeueJob.perform_later()

    first, second = running.wait_count("requeue", 2)
    assert (first["queue"], first["priority"]) == ("default", 5)  # the app default
    assert (second["queue"], second["priority"]) == ("retries", 1)


def test_callbacks_run_in_order_around_enqueue_and_perform(running: Recorder) -> None:
    job = OrderedJob.perform_later("later")
    job.async_result.get(timeout=10)

    names = [r["name"] for r in running.of("cb")]
    # The worker may start the job while this thread still runs the after-enqueue halves,
    # so each side's order is checked on its own, and the send between them.
    assert [n for n in names if "enqueue" in n] == [
        "base.before_enqueue",
        "own.before_enqueue",
        "own.around_enqueue:before",
        "own.around_enqueue:after",
        "own.after_enqueue",
    ]
    assert [n for n in names if "enqueue" not in n] == [
        "base.before_perform",
        "own.before_perform",
        "base.around_perform:before",
        "own.around_perform:before",
        "perform:later",
        "own.around_perform:after",
        "base.around_perform:after",
        "base.after_perform",
        "own.after_perform",
    ]
    assert names.index("own.around_enqueue:before") < names.index("base.before_perform")


def test_set_wait_delays_the_run(running: Recorder) -> None:
    job = EchoJob.set(wait=1.5).perform_later("later")

    [record] = running.wait_count("echo", 1)
    assert record["scheduled_at"] == job.scheduled_at
    assert record["ran_at"] >= job.enqueued_at + dt.timedelta(seconds=1.5)


def test_perform_all_later_of_1000_jobs_runs_them_all(running: Recorder) -> None:
    assert perform_all_later([CountJob(n) for n in range(1000)]) == 1000

    records = running.wait_count("count", 1000, timeout_s=60)
    assert sorted(r["n"] for r in records) == list(range(1000))


def test_a_retry_matched_in_perform_now_is_enqueued_and_runs_in_the_worker(running: Recorder) -> None:
    job = RetryingJob(1)
    assert job.perform_now() is None  # failed once; the retry went to the queue

    attempts = running.wait_count("attempt", 2)
    assert [a["executions"] for a in attempts] == [1, 2]
    assert {a["job_id"] for a in attempts} == {job.job_id}
    assert job.async_result.get(timeout=10) == "done"


def test_a_job_enqueued_from_an_async_perform_keeps_its_parent_link(running: Recorder) -> None:
    from tests.jobs import AsyncParentJob

    # Celery's record of the running task is per thread; the coroutine runs on the event loop's thread
    parent = AsyncParentJob.perform_later()
    [child] = running.wait_count("async child", 1)
    assert child["parent_id"] == parent.job_id


def test_retry_job_called_in_an_async_perform_retries_it_on_the_worker(running: Recorder) -> None:
    from tests.jobs import AsyncRetryJobJob

    AsyncRetryJobJob.perform_later()
    runs = running.wait_count("async retry_job run", 2)
    assert [run["executions"] for run in runs] == [1, 2]
