"""The dead set (``conveyor.broker.dead.dead_set``): capped, aged out, retried, deleted, on the test Redis."""

from __future__ import annotations

import time
from typing import Any

import pytest
import redis

from conveyor.broker.dead.dead_set import DEAD_JOBS_KEY, DEAD_KEY, DeadSet
from conveyor.errors import ConveyorError
from tests.redis_reading import queued_messages


def record(job_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": job_id,
        "task": "tests.jobs.EchoJob",
        "job_class": "EchoJob",
        "args": [job_id],
        "kwargs": {},
        "queue": "default",
        "priority": 5,
        "meta": {"exception_executions": {"k": 3}},
        "error": "E",
        **extra,
    }


def test_the_dead_set_keeps_the_newest_up_to_its_cap(redis_client: redis.Redis) -> None:
    dead = DeadSet(redis_client, max_jobs=3, timeout=3600)
    now = time.time()
    for n in range(5):
        dead.add(record(f"job-{n}"), now=now + n)

    assert [r["id"] for r in dead.list()] == ["job-4", "job-3", "job-2"]
    assert redis_client.hlen(DEAD_JOBS_KEY) == 3  # the record went with its id


def test_the_dead_set_drops_jobs_older_than_its_timeout(redis_client: redis.Redis) -> None:
    dead = DeadSet(redis_client, max_jobs=100, timeout=60)
    now = time.time()
    dead.add(record("old"), now=now - 120)
    dead.add(record("new"), now=now)

    assert [r["id"] for r in dead.list()] == ["new"]
    assert redis_client.zcard(DEAD_KEY) == 1


def test_retry_sends_the_job_again_with_its_attempts_counted_afresh(redis_client: redis.Redis, celery_app: Any) -> None:
    from tests.jobs import EchoJob  # registered on the app, as a worker's jobs are

    assert EchoJob.__name__ in record("job-r")["task"]
    dead = DeadSet(redis_client)
    dead.add(record("job-r"))

    assert dead.retry(celery_app, "job-r") is True
    assert dead.retry(celery_app, "job-r") is False  # gone: a second retry sends nothing

    [message] = queued_messages(redis_client, "default")
    assert message["headers"]["id"] == "job-r"
    assert message["headers"]["retries"] == 0
    assert message["headers"]["conveyor"]["exception_executions"] == {}
    assert message["decoded_body"][0] == ["job-r"]
    assert dead.count() == 0


def test_delete_clear_and_an_entry_that_was_never_a_message(redis_client: redis.Redis, celery_app: Any) -> None:
    dead = DeadSet(redis_client)
    for n in range(3):
        dead.add(record(f"job-{n}"))
    dead.add({"id": "garbage", "queue": "default", "raw_entry": "Z2FyYmFnZQ==", "error": "unparsable"})

    with pytest.raises(ConveyorError, match=r"garbage cannot be retried: it was not a message .*: delete it"):
        dead.retry(celery_app, "garbage")
    assert dead.get("garbage") is not None  # kept, since it was not sent
    assert dead.delete("job-0") is True
    assert dead.delete("job-0") is False
    assert dead.clear() == 3
    assert redis_client.exists(DEAD_KEY, DEAD_JOBS_KEY) == 0
