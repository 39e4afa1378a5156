"""The eviction check (``conveyor.broker.eviction``): a Redis that may evict keys is named with the fix, and
a worker warns about it, or refuses to start in production.
"""

from __future__ import annotations

import logging
from types import SimpleNamespace
from typing import Any

import pytest
import redis
from celery import Celery

import conveyor
from conveyor.broker import eviction
from conveyor.broker.eviction import eviction_problem
from conveyor.errors import WorkerConfigError
from tests.conftest import TEST_REDIS_URL


def test_an_evicting_redis_is_named_with_the_fix(redis_client: redis.Redis) -> None:
    class Evicting:
        def config_get(self, name: str) -> dict[str, str]:
            return {name: "allkeys-lru"}

    class Locked:
        def config_get(self, name: str) -> dict[str, str]:
            raise redis.ResponseError("unknown command 'CONFIG'")

    assert eviction_problem(Evicting()) == (
        "Redis evicts keys (maxmemory-policy allkeys-lru): queued and scheduled jobs can be deleted when it is full. "
        "Set `maxmemory-policy noeviction` in redis.conf (or CONFIG SET maxmemory-policy noeviction)"
    )
    assert "could not read Redis' maxmemory-policy (ResponseError" in str(eviction_problem(Locked()))
    policy = redis_client.config_get("maxmemory-policy")["maxmemory-policy"]
    assert (eviction_problem(redis_client) is None) == (policy == "noeviction")


class EvictingRedis:
    """A client of a Redis whose policy is allkeys-lru."""

    closed = False

    def config_get(self, name: str) -> dict[str, str]:
        return {name: "allkeys-lru"}

    def close(self) -> None:
        self.closed = True


def start_check(monkeypatch: pytest.MonkeyPatch, **settings: Any) -> EvictingRedis:
    """Run the worker bootstep for an app with ``settings``, on an evicting Redis; the client it used."""
    client = EvictingRedis()
    monkeypatch.setattr(eviction, "redis_client", lambda app: client)
    app = conveyor.configure(Celery("eviction", set_as_current=False), default=False, **settings)
    worker = SimpleNamespace(app=app)
    eviction.EvictionCheck(worker).start(worker)
    return client


def test_a_worker_on_an_evicting_redis_warns_and_starts(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="conveyor.broker.eviction"):
        client = start_check(monkeypatch, broker_url=TEST_REDIS_URL)
    assert caplog.messages == [f"conveyor: {eviction_problem(client)}."]
    assert client.closed


def test_a_production_worker_on_an_evicting_redis_refuses_to_start(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(WorkerConfigError, match=r"maxmemory-policy allkeys-lru.*The worker refuses to start"):
        start_check(monkeypatch, broker_url=TEST_REDIS_URL, conveyor_production=True)


def test_a_worker_whose_broker_is_not_redis_checks_nothing(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="conveyor.broker.eviction"):
        start_check(monkeypatch, broker_url="memory://", conveyor_production=True)
    assert caplog.messages == []
