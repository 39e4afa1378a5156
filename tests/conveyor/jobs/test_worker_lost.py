"""``conveyor.jobs.worker_lost``: a job whose pool process died is sent again, until its third death.

``count_death`` (the shared death count in Redis, with its TTL; 0 when Redis is away) and ``JobRequest``:
below the limit Celery's own retry runs; at the limit the job is not sent again, carries the dead-set
reason, and its ``@unique`` lock is released.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest
import redis
from celery import Celery
from celery.contrib.testing.mocks import TaskMessage
from celery.worker.request import Request

import conveyor
from conveyor.broker.controls import UNIQUE_HEADER
from conveyor.defaults import WORKER_DEATHS_TTL_S
from conveyor.devserver import free_port
from conveyor.jobs.app_lookup import task_name
from conveyor.jobs.worker_lost import JobRequest, count_death
from conveyor.keys import DEATHS_PREFIX
from tests.jobs import CountJob

LOCK = "conveyor:unique:tests.jobs.CountJob:1"


@pytest.fixture
def celery_retries(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Celery's own retry after a lost worker, replaced by a record of the job ids it was asked to send again."""
    sent_again: list[str] = []

    def retry(self: Request, exc: BaseException, exc_info: Any) -> bool:
        sent_again.append(self.id)
        return True

    monkeypatch.setattr(Request, "_retry_worker_lost", retry)
    return sent_again


def lost(app: Celery, job_id: str) -> JobRequest:
    """The worker's request for a @unique CountJob whose pool process died."""
    message = TaskMessage("tests.jobs.CountJob", id=job_id, args=(1,), **{UNIQUE_HEADER: {"key": LOCK, "ttl_ms": 1}})
    return JobRequest(message, app=app, task=app.tasks[task_name(CountJob)])


def test_each_death_of_a_job_is_counted_with_a_ttl(redis_client: redis.Redis, celery_app: Celery) -> None:
    counts = [count_death(celery_app, "job-1"), count_death(celery_app, "job-1"), count_death(celery_app, "job-2")]

    assert counts == [1, 2, 1]
    assert 0 < redis_client.ttl(DEATHS_PREFIX + "job-1") <= WORKER_DEATHS_TTL_S


def test_with_redis_away_a_death_counts_as_none_and_a_warning_says_so(caplog: pytest.LogCaptureFixture) -> None:
    away = conveyor.configure(
        Celery("away", set_as_current=False), default=False, broker_url=f"redis://127.0.0.1:{free_port()}/0"
    )

    with caplog.at_level(logging.WARNING, logger="conveyor.jobs.worker_lost"):
        assert count_death(away, "job-1") == 0

    [warning] = [r.getMessage() for r in caplog.records if r.name == "conveyor.jobs.worker_lost"]
    assert warning.startswith("conveyor: could not count the worker death of job job-1: ")


def test_a_job_is_sent_again_by_celery_until_its_third_death_then_given_up_with_the_reason(
    redis_client: redis.Redis, celery_app: Celery, celery_retries: list[str], caplog: pytest.LogCaptureFixture
) -> None:
    # Given a @unique job holding its lock, whose pool process dies while running it
    redis_client.set(LOCK, "job-1")
    errors = [RuntimeError(f"worker lost {n}") for n in (1, 2, 3)]

    # When its process dies three times
    with caplog.at_level(logging.ERROR, logger="conveyor.jobs.worker_lost"):
        sent = [lost(celery_app, "job-1")._retry_worker_lost(error, None) for error in errors]

    # Then Celery sent it again twice; the third time it is not, carries the dead-set reason, and frees its lock
    assert sent == [True, True, False]
    assert celery_retries == ["job-1", "job-1"]
    assert not hasattr(errors[1], "_conveyor_reason")
    assert errors[2]._conveyor_reason == "its worker died 3 times while running it"  # type: ignore[attr-defined]
    assert redis_client.exists(LOCK) == 0
    assert [r.getMessage() for r in caplog.records if r.name == "conveyor.jobs.worker_lost"] == [
        "conveyor: job tests.jobs.CountJob[job-1]: its worker died 3 times while running it; not run again"
    ]
