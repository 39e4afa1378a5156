"""The result backend (``conveyor.broker.results``): a result is read, written and published in one script,
a stored SUCCESS is never overwritten, and a failure keeps Celery's own expiry."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from celery import Celery, states

import conveyor
from conveyor.broker.results import RedisBackend
from tests.conftest import TEST_REDIS_URL


@pytest.fixture
def backend(redis_client: redis.Redis) -> Iterator[RedisBackend]:
    app = conveyor.configure(
        Celery("results", set_as_current=False),
        default=False,
        broker_url=TEST_REDIS_URL,
        result_backend=TEST_REDIS_URL,
        result_expires=3600,
        result_failure_expires=60,
    )
    assert isinstance(app.backend, RedisBackend)
    yield app.backend
    app.close()


def test_a_stored_result_is_published_to_whoever_waits_on_it(backend: Any, redis_client: redis.Redis) -> None:
    # Given a client subscribed to job-1's result
    pubsub = redis_client.pubsub()
    pubsub.subscribe("celery-task-meta-job-1")
    assert pubsub.get_message(timeout=1)["type"] == "subscribe"  # type: ignore[index]

    # When the result is stored
    backend.store_result("job-1", {"rows": 3}, states.SUCCESS)

    # Then the subscriber gets the stored value, which expires with result_expires
    message = pubsub.get_message(timeout=2)
    pubsub.close()
    assert message is not None
    assert message["data"] == redis_client.get("celery-task-meta-job-1")
    assert json.loads(message["data"])["result"] == {"rows": 3}
    assert 3500 < redis_client.ttl("celery-task-meta-job-1") <= 3600


def test_a_success_is_kept_whatever_is_stored_after_it(backend: Any, redis_client: redis.Redis) -> None:
    # Given job-2 stored as a success
    backend.store_result("job-2", 42, states.SUCCESS)
    stored = redis_client.get("celery-task-meta-job-2")

    # When a second run stores a failure, then a retry
    backend.store_result("job-2", ValueError("late"), states.FAILURE)
    backend.store_result("job-2", None, states.RETRY)

    # Then the success is what is stored, byte for byte
    assert redis_client.get("celery-task-meta-job-2") == stored


def test_a_failure_expires_with_result_failure_expires_and_a_later_success_replaces_it(
    backend: Any, redis_client: redis.Redis
) -> None:
    backend.store_result("job-3", ValueError("first try"), states.FAILURE)
    assert 0 < redis_client.ttl("celery-task-meta-job-3") <= 60
    backend.store_result("job-3", 7, states.SUCCESS)
    assert backend.get_task_meta("job-3")["result"] == 7


def test_a_stored_value_that_is_not_json_is_overwritten(backend: Any, redis_client: redis.Redis) -> None:
    redis_client.set("celery-task-meta-job-4", b"\x80 not json")
    backend.store_result("job-4", "ok", states.SUCCESS)
    assert backend.get_task_meta("job-4")["result"] == "ok"
