"""``conveyor.jobs.controlled_run``: a job's ``@unique`` lock and concurrency slot, released as its outcome requires.

Success and failure free both; a retry keeps the lock and frees the slot; ``until="start"`` frees the lock
before the job runs; ``release_controls`` frees both for a job given up on; Redis away is a warning, not an error.
"""

from __future__ import annotations

import logging
import time
from types import SimpleNamespace
from typing import Any

import pytest
import redis
from celery import Celery
from celery.exceptions import Retry

import conveyor
from conveyor.broker.controls import LIMIT_HEADER, UNIQUE_HEADER
from conveyor.devserver import free_port
from conveyor.jobs.controlled_run import release_controls, run_controlled

JOB_ID = "job-1"
LOCK = "conveyor:unique:tests.ControlledJob:1"
SLOTS = "conveyor:limit:tests.ControlledJob:1"


def held(client: redis.Redis, job_id: str = JOB_ID) -> dict[str, bool]:
    """What the job holds: its unique lock, its concurrency slot."""
    return {"lock": client.get(LOCK) == job_id.encode(), "slot": client.zscore(SLOTS, job_id) is not None}


def take(client: redis.Redis, job_id: str = JOB_ID) -> None:
    """The job holds the lock and a slot, as the enqueue and the claim script left them."""
    client.set(LOCK, job_id, px=60_000)
    client.zadd(SLOTS, {job_id: time.time() + 60})


def running(app: Celery, until: str = "success") -> tuple[Any, Any]:
    """A controlled job in a worker, and its request carrying the control headers."""
    job = SimpleNamespace(_task=SimpleNamespace(app=app))
    request = SimpleNamespace(
        id=JOB_ID,
        **{
            UNIQUE_HEADER: {"key": LOCK, "ttl_ms": 60_000, "until": until},
            LIMIT_HEADER: {"key": SLOTS, "to": 1, "duration": 60.0, "discard": False},
        },
    )
    return job, request


def test_a_job_that_succeeds_frees_its_lock_and_slot_and_returns_its_value(
    redis_client: redis.Redis, celery_app: Celery
) -> None:
    # Given a job holding its lock and slot
    take(redis_client)
    during: list[dict[str, bool]] = []

    def execute() -> str:
        during.append(held(redis_client))
        return "done"

    # When it runs and succeeds
    result = run_controlled(*running(celery_app), execute)

    # Then it held both while it ran, and neither after
    assert result == "done"
    assert during == [{"lock": True, "slot": True}]
    assert held(redis_client) == {"lock": False, "slot": False}


def test_a_job_that_fails_frees_its_lock_and_slot_and_its_error_goes_on(
    redis_client: redis.Redis, celery_app: Celery
) -> None:
    take(redis_client)

    def execute() -> None:
        raise LookupError("gone")

    with pytest.raises(LookupError, match="gone"):
        run_controlled(*running(celery_app), execute)

    assert held(redis_client) == {"lock": False, "slot": False}


def test_a_job_that_is_retried_keeps_its_lock_and_frees_its_slot(redis_client: redis.Redis, celery_app: Celery) -> None:
    # Given a job holding its lock and slot / When it ends in Celery's retry
    take(redis_client)

    def execute() -> None:
        raise Retry("again")

    with pytest.raises(Retry):
        run_controlled(*running(celery_app), execute)

    # Then it runs again holding its lock; another job of the key may take the slot meanwhile
    assert held(redis_client) == {"lock": True, "slot": False}


def test_a_lock_held_until_start_is_freed_before_the_job_runs(redis_client: redis.Redis, celery_app: Celery) -> None:
    take(redis_client)
    during: list[dict[str, bool]] = []

    run_controlled(*running(celery_app, until="start"), lambda: during.append(held(redis_client)))

    assert during == [{"lock": False, "slot": True}]
    assert held(redis_client) == {"lock": False, "slot": False}


def test_release_controls_frees_what_a_job_given_up_on_holds(redis_client: redis.Redis, celery_app: Celery) -> None:
    # Given the message headers of a job that holds its lock and slot
    take(redis_client)
    _job, request = running(celery_app)
    headers = {UNIQUE_HEADER: getattr(request, UNIQUE_HEADER), LIMIT_HEADER: getattr(request, LIMIT_HEADER)}

    # When headers that are not a dict are given, nothing happens; when the job's are, both are freed
    release_controls(celery_app, None, JOB_ID)
    kept = held(redis_client)
    release_controls(celery_app, headers, JOB_ID)

    assert kept == {"lock": True, "slot": True}
    assert held(redis_client) == {"lock": False, "slot": False}


def test_with_redis_away_the_job_still_ends_as_it_did_and_a_warning_names_what_was_not_freed(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Given an app whose Redis does not answer
    away = conveyor.configure(
        Celery("away", set_as_current=False), default=False, broker_url=f"redis://127.0.0.1:{free_port()}/0"
    )

    def execute() -> str:
        return "done"

    # When a controlled job runs through it
    with caplog.at_level(logging.WARNING, logger="conveyor.jobs.controlled_run"):
        result = run_controlled(*running(away), execute)

    # Then its value stands, and the lock and slot left to their TTLs are logged
    assert result == "done"
    warnings = [r.getMessage() for r in caplog.records if r.name == "conveyor.jobs.controlled_run"]
    assert len(warnings) == 2
    assert warnings[0].startswith("conveyor: could not release the unique lock of job job-1: ")
    assert warnings[1].startswith("conveyor: could not release the concurrency slot of job job-1: ")
