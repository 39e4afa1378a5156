"""``conveyor.master_switches``: a pool that follows a Sentinel service moves when a promotion is announced.

The real failover (sentinels, a promotion, writes landing on the new master while the old one still
takes them) is in ``broker/test_sentinel_failover.py``. Here a private redis-server stands in for a
sentinel (``+switch-master`` is an ordinary Pub/Sub channel there), and the pool is the smallest
object with what redis-py's ``SentinelConnectionPool`` offers the listener.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from conveyor import master_switches
from conveyor.master_switches import follow, switches_followed
from tests.private_redis import private_redis

pytestmark = [pytest.mark.redis, pytest.mark.processes]  # a redis-server of its own


class Pool:
    """What the listener uses of a redis-py Sentinel pool: its manager's sentinels, service, role and re-ask."""

    def __init__(self, sentinel: redis.Redis, service: str) -> None:
        self.sentinel_manager = type("Manager", (), {"sentinels": [sentinel]})()
        self.service_name, self.is_master = service, True
        self.asked = threading.Semaphore(0)

    def get_master_address(self) -> tuple[str, int]:
        self.asked.release()
        return ("127.0.0.1", 6380)


@pytest.fixture
def sentinel(tmp_path: Path) -> Iterator[redis.Redis]:
    with private_redis(tmp_path) as (client, _):
        yield client


def test_a_followed_pool_asks_for_the_master_when_its_service_is_announced_and_not_for_another(
    sentinel: redis.Redis,
) -> None:
    # Given a pool following "svc-a" (asked once when the listener subscribes: a switch may have been missed)
    pool = Pool(sentinel, "svc-a")
    follow(pool)
    assert pool.asked.acquire(timeout=10)
    before = switches_followed("svc-a")

    # When another service's promotion is announced, then its own
    sentinel.publish("+switch-master", "svc-b 127.0.0.1 1 127.0.0.1 2")
    sentinel.publish("+switch-master", "svc-a 127.0.0.1 6379 127.0.0.1 6380")

    # Then it asks for the master once more, and one switch of svc-a was followed
    assert pool.asked.acquire(timeout=10)
    assert not pool.asked.acquire(timeout=0.5)  # svc-b's announcement moved nothing
    assert switches_followed("svc-a") == before + 1


def test_a_pool_that_is_not_a_sentinel_masters_is_not_followed(sentinel: redis.Redis) -> None:
    # Given a plain pool and a replica's pool
    replica = Pool(sentinel, "svc-c")
    replica.is_master = False
    listeners = dict(master_switches._listeners)
    # When they are handed to follow()
    follow(redis.ConnectionPool())
    follow(replica)
    # Then no listener started for them
    assert master_switches._listeners == listeners


def test_the_listener_ends_when_no_pool_follows_its_service_any_more(sentinel: redis.Redis) -> None:
    # Given a listener for one pool
    pool: Any = Pool(sentinel, "svc-d")
    follow(pool)
    assert pool.asked.acquire(timeout=10)
    [listener] = [value for (_, name, _), value in master_switches._listeners.items() if name == "svc-d"]
    # When the pool is gone
    del pool
    gc.collect()
    # Then its thread ends, and it is no longer registered
    listener._thread.join(timeout=10)
    assert not listener._thread.is_alive()
    assert not [name for (_, name, _) in master_switches._listeners if name == "svc-d"]
