"""``conveyor.jobs.failures``: the ``task_failure`` receiver that puts a job that failed for good in the dead set.

What a dead record holds (read from the request, whatever its fields' types), its reason, what is not
recorded (a broker error, a task that is not a job), and that the receiver never raises.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest
import redis
from celery import Celery

from conveyor.broker.dead.dead_set import DeadSet
from conveyor.jobs.app_lookup import task_name
from conveyor.jobs.failures import record_task_failure
from conveyor.records import HEADER
from tests.jobs import EchoJob

HEADER_SENT = {
    "enqueued_at": "2026-01-02T03:04:05+00:00",
    "scheduled_at": None,
    "queue": "reports",
    "priority": 3,
    "exception_executions": {"EchoJob[ValueError]": 2},
}


@pytest.fixture
def task(redis_client: redis.Redis, celery_app: Celery) -> Any:
    """EchoJob's task, its dead set empty."""
    return celery_app.tasks[task_name(EchoJob)]


@pytest.fixture
def dead_set(celery_app: Celery) -> DeadSet:
    return DeadSet.for_app(celery_app)


@pytest.fixture
def failing(task: Any) -> Callable[..., None]:
    """Call the receiver as Celery does, inside the failing job's request."""

    def fail(exception: BaseException, einfo: Any = None, **request: Any) -> None:
        fields = {
            "id": "job-1",
            "delivery_info": {"routing_key": "reports", "priority": 3},
            HEADER: HEADER_SENT,
            "retries": 2,
            "argsrepr": "(1,)",
            "kwargsrepr": "{}",
            "hostname": "worker@host",
            **request,
        }
        task.push_request(**fields)
        try:
            record_task_failure(sender=task, task_id="job-1", exception=exception, args=[1], kwargs={}, einfo=einfo)
        finally:
            task.pop_request()

    return fail


def raised(error: BaseException) -> BaseException:
    """``error`` with a traceback, as a job's error arrives."""
    try:
        raise error
    except BaseException as caught:
        return caught


def test_a_job_that_failed_for_good_is_recorded_with_what_the_dead_set_shows(
    failing: Callable[..., None], dead_set: DeadSet
) -> None:
    # Given a job whose retries ran out (execution marks its error so)
    error = raised(ValueError("boom"))
    error._conveyor_reason = "retries exhausted"  # type: ignore[attr-defined]

    # When Celery reports its failure
    failing(error)

    # Then the dead set holds it, with its reason, error, origin, arguments and attempts
    record = dead_set.get("job-1")
    assert record is not None
    assert {key: record[key] for key in ("id", "reason", "error", "task", "job_class", "attempts")} == {
        "id": "job-1",
        "reason": "retries exhausted",
        "error": "ValueError: boom",
        "task": "tests.jobs.EchoJob",
        "job_class": "EchoJob",
        "attempts": 3,
    }
    assert (record["queue"], record["priority"], record["hostname"]) == ("reports", 3, "worker@host")
    assert (record["args"], record["kwargs"], record["argsrepr"], record["kwargsrepr"]) == ([1], {}, "(1,)", "{}")
    assert record["meta"] == HEADER_SENT
    assert "ValueError: boom" in record["backtrace"]
    assert "failed_at" in record


def test_an_error_without_a_reason_failed_outside_the_job(failing: Callable[..., None], dead_set: DeadSet) -> None:
    failing(raised(LookupError("in a signal handler")))

    record = dead_set.get("job-1")
    assert record is not None
    assert (record["reason"], record["error"]) == (
        "failed in Celery, outside the job",
        "LookupError: in a signal handler",
    )


def test_request_fields_of_other_types_still_give_a_record(failing: Callable[..., None], dead_set: DeadSet) -> None:
    # Given a message whose delivery info and retry count are not what Celery writes
    # When its job fails
    failing(raised(ValueError("boom")), delivery_info="junk", retries="many")

    # Then the queue comes from the conveyor header, and the attempt count starts afresh
    record = dead_set.get("job-1")
    assert record is not None
    assert (record["queue"], record["priority"], record["attempts"]) == ("reports", None, 1)


def test_when_the_full_record_cannot_be_built_a_smaller_one_is_kept_and_the_reason_logged(
    failing: Callable[..., None], dead_set: DeadSet, caplog: pytest.LogCaptureFixture
) -> None:
    # Given exception info Celery could not have made (no traceback attribute)
    with caplog.at_level(logging.ERROR, logger="conveyor.jobs.failures"):
        failing(raised(ValueError("boom")), einfo=object())

    # Then the job is in the dead set all the same, with its error, and the log says why it is short
    record = dead_set.get("job-1")
    assert record is not None
    assert (record["error"], record["job_class"], record["task"]) == (
        "ValueError: boom",
        "EchoJob",
        "tests.jobs.EchoJob",
    )
    assert "backtrace" not in record
    assert any(
        r.getMessage().startswith("conveyor: job job-1: a full dead record could not be built (AttributeError")
        for r in caplog.records
    )


@pytest.mark.parametrize("error", [ConnectionError("reset"), redis.ConnectionError("Redis away"), TimeoutError()])
def test_a_broker_error_around_a_job_is_not_its_failure(
    failing: Callable[..., None], dead_set: DeadSet, caplog: pytest.LogCaptureFixture, error: BaseException
) -> None:
    # Given Celery failed around the job while Redis was away (no reason set by the job's execution)
    # When the failure is reported
    with caplog.at_level(logging.WARNING, logger="conveyor.jobs.failures"):
        failing(raised(error))

    # Then nothing goes to the dead set, and a warning says why
    assert dead_set.count() == 0
    [warning] = [r.getMessage() for r in caplog.records if r.name == "conveyor.jobs.failures"]
    assert warning.startswith(f"conveyor: job job-1 hit a broker error outside its perform ({type(error).__name__}: ")
    assert warning.endswith("); not a dead job")


def test_a_task_that_is_not_a_job_or_a_missing_exception_records_nothing(
    task: Any, celery_app: Celery, dead_set: DeadSet
) -> None:
    # Given Celery's own task, and a job's failure reported without its exception
    plain = celery_app.tasks["celery.backend_cleanup"]

    # When they are reported
    record_task_failure(sender=plain, task_id="plain-1", exception=ValueError("boom"))
    record_task_failure(sender=task, task_id="job-1", exception=None)

    # Then the dead set stays empty
    assert dead_set.count() == 0


def test_a_dead_set_that_cannot_be_written_is_logged_and_the_receiver_does_not_raise(
    failing: Callable[..., None], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # Given a dead set whose write fails
    def refuse(self: DeadSet, record: Any, now: float | None = None) -> int:
        raise redis.ResponseError("OOM command not allowed")

    monkeypatch.setattr(DeadSet, "add", refuse)

    # When a job's failure is reported / Then nothing is raised and the log names the job and the error
    with caplog.at_level(logging.ERROR, logger="conveyor.jobs.failures"):
        failing(raised(ValueError("boom")))

    assert [r.getMessage() for r in caplog.records if r.name == "conveyor.jobs.failures"] == [
        "conveyor: could not add job job-1 to the dead set: ResponseError: OOM command not allowed"
    ]
