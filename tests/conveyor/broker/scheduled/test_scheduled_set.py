"""The scheduled set (``conveyor.broker.scheduled.scheduled_set``): delayed jobs wait in a sorted set and
every worker's poller moves each due one to its queue exactly once, on the test Redis.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from typing import Any

import pytest
import redis
from celery import Celery

import conveyor
from conveyor.broker.dead.dead_set import DeadSet
from conveyor.broker.scheduled import scheduled_set
from conveyor.defaults import DEFAULT_SCHEDULED_THRESHOLD, SCHEDULED_POLL_INTERVAL_S
from conveyor.errors import ConfigurationError, ConveyorError
from conveyor.keys import SCHEDULED_KEY, WAKE_PREFIX


def test_move_due_moves_only_due_jobs_to_their_queue_key(redis_client: redis.Redis) -> None:
    now = time.time()
    scheduled_set.add(redis_client, "q1", '{"n": 1}', now - 1, "a")
    scheduled_set.add(redis_client, "q1", '{"n": 2}', now + 60, "b")

    assert scheduled_set.move_due(redis_client, now=now) == 1

    assert redis_client.lrange("q1", 0, -1) == [b'{"n": 1}']
    assert [entry["id"] for entry in scheduled_set.entries(redis_client)] == ["b"]


def test_concurrent_pollers_move_each_due_job_exactly_once(redis_client: redis.Redis) -> None:
    now = time.time()
    with redis_client.pipeline() as pipe:
        for n in range(2000):
            scheduled_set.add(pipe, "q2", json.dumps({"n": n}), now - 1, str(n))
        pipe.execute()
    from tests.conftest import TEST_REDIS_URL

    clients = [redis.Redis.from_url(TEST_REDIS_URL) for _ in range(4)]
    moved = [0] * 4
    start = threading.Barrier(4)

    def poll(index: int) -> None:
        start.wait()
        while (count := scheduled_set.move_due(clients[index], now=now, limit=50)) > 0:
            moved[index] += count

    threads = [threading.Thread(target=poll, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sum(moved) == 2000
    items = [json.loads(item)["n"] for item in redis_client.lrange("q2", 0, -1)]
    assert sorted(items) == list(range(2000))  # each once
    assert scheduled_set.count(redis_client) == 0


def test_the_poller_thread_moves_a_job_once_it_is_due(redis_client: redis.Redis) -> None:
    from tests.conftest import TEST_REDIS_URL

    scheduled_set.add(redis_client, "q3", "m", time.time() + 0.5, "x")
    poller = scheduled_set.Poller(TEST_REDIS_URL, interval=0.1)
    poller.start()
    try:
        assert redis_client.brpop(["q3"], timeout=5) == (b"q3", b"m")
    finally:
        poller.stop()
    assert not poller.is_alive()


def test_with_the_shipped_interval_the_poller_moves_a_job_at_its_due_time_not_a_poll_later(
    redis_client: redis.Redis,
) -> None:
    from tests.conftest import TEST_REDIS_URL

    # Given the shipped defaults: the poller looks at least every 2.5-5 s
    assert (SCHEDULED_POLL_INTERVAL_S, DEFAULT_SCHEDULED_THRESHOLD) == (5.0, 5.0)
    due = time.time() + 0.5
    scheduled_set.add(redis_client, "q3", "m", due, "x")
    poller = scheduled_set.Poller(TEST_REDIS_URL)
    poller.start()
    try:
        # Then it sleeps until the entry is due (the move script said when), not a whole interval
        assert redis_client.brpop(["q3"], timeout=2) == (b"q3", b"m")
        assert time.time() >= due
    finally:
        poller.stop()


def test_an_entry_added_while_the_poller_sleeps_is_moved_by_its_due_time(redis_client: redis.Redis) -> None:
    from tests.conftest import TEST_REDIS_URL

    # Given a poller that found the set empty (it sleeps at most the threshold: 1 s here)
    poller = scheduled_set.Poller(TEST_REDIS_URL, interval=5, threshold=1)
    assert poller.interval == 1
    poller.start()
    try:
        # When an entry is added, due just over the threshold later (the soonest the scheduled set holds)
        due = time.time() + 1.1
        scheduled_set.add(redis_client, "q3", "m", due, "x")
        # Then the poller has looked again before it is due, and moves it on time
        assert redis_client.brpop(["q3"], timeout=3) == (b"q3", b"m")
        assert time.time() - due < 0.5
    finally:
        poller.stop()


def test_a_scheduled_threshold_near_the_visibility_timeout_is_refused() -> None:
    with pytest.raises(ConfigurationError, match=r"conveyor_scheduled_threshold \(2000 s\) must be under half"):
        conveyor.configure(Celery("t"), default=False, conveyor_scheduled_threshold=2000)


def test_every_worker_runs_a_poller_that_stops_with_it(redis_client: redis.Redis, celery_app: Any) -> None:
    from conveyor.testing import worker_thread

    def pollers() -> int:
        return sum(thread.name == "conveyor-scheduled-poller" for thread in threading.enumerate())

    before = pollers()
    with worker_thread(celery_app, queues=["default"]):
        assert pollers() == before + 1
    assert pollers() == before


def test_a_moved_job_wakes_its_queues_idle_workers(redis_client: redis.Redis) -> None:
    # Given a due job scheduled for queue q4
    scheduled_set.add(redis_client, "q4\x06\x165", "m", time.time() - 1, "x", queue="q4")

    # When it is moved
    assert scheduled_set.move_due(redis_client) == 1

    # Then it is in its list and q4's idle workers have a wake-up token
    assert redis_client.lrange("q4\x06\x165", 0, -1) == [b"m"]
    assert redis_client.llen(WAKE_PREFIX + "q4") == 1


def test_a_malformed_entry_is_filed_in_the_dead_set_not_lost(redis_client: redis.Redis) -> None:
    # Given a member of the scheduled set that is not a valid entry, due now
    redis_client.zadd(SCHEDULED_KEY, {'{"key": 1}': time.time() - 1})

    # When the poller moves due jobs
    scheduled_set.move_due(redis_client)

    # Then it is in the dead set, kept raw with the reason, and neither in the set nor in the holding list
    [record] = DeadSet(redis_client).list()
    assert record["id"].startswith("malformed-scheduled-")
    assert record["reason"].startswith("malformed entry in the scheduled set")
    assert base64.b64decode(record["raw_entry"]) == b'{"key": 1}'
    assert scheduled_set.count(redis_client) == 0
    assert redis_client.llen(scheduled_set.MALFORMED_KEY) == 0


def test_a_unique_scheduled_job_takes_its_lock_in_the_same_step_and_a_duplicate_stores_nothing(
    redis_client: redis.Redis,
) -> None:
    # Given job a scheduled under a @unique lock
    lock = "conveyor:unique:x.ReportJob:42"
    due = time.time() + 60
    assert scheduled_set.add(redis_client, "q5", "a", due, "job-a", unique=(lock, 60_000)) is None

    # When job b is scheduled under the same lock, and job a again (its retry)
    holder = scheduled_set.add(redis_client, "q5", "b", due, "job-b", unique=(lock, 60_000))
    again = scheduled_set.add(redis_client, "q5", "a2", due, "job-a", unique=(lock, 60_000))

    # Then b is refused naming a, a's retry keeps the lock, and b was never stored
    assert (holder, again) == ("job-a", None)
    assert redis_client.get(lock) == b"job-a"
    assert sorted(entry["id"] for entry in scheduled_set.entries(redis_client)) == ["job-a", "job-a"]
    with pytest.raises(ConveyorError, match="names 'conveyor:dead', not a key under conveyor:unique:"):
        scheduled_set.add(redis_client, "q5", "c", due, "job-c", unique=("conveyor:dead", 1000))
    assert scheduled_set.count(redis_client) == 2
