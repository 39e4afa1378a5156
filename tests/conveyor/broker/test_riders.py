"""Riders: a caller's write in the pipeline of one job's send, before its push; other paths say they took none."""

from __future__ import annotations

import pytest
import redis

from conveyor.broker.riders import Rider, riding
from tests.jobs import EchoJob
from tests.redis_reading import queued_messages

pytestmark = pytest.mark.redis


def test_a_plain_send_carries_the_write_and_says_so(redis_client: redis.Redis) -> None:
    rider = Rider(lambda pipe: pipe.hset("rider:record", mapping={"status": "READY"}))
    redis_client.config_resetstat()
    with riding(rider):
        job = EchoJob.perform_later("hello")
    assert rider.applied
    assert redis_client.hgetall("rider:record") == {b"status": b"READY"}
    [message] = queued_messages(redis_client, "default")
    assert message["headers"]["id"] == job.job_id
    # One send, one write: the HSET is not repeated, and nothing outside the block carries it
    calls = {name: int(stats["calls"]) for name, stats in redis_client.info("commandstats").items()}
    assert calls["cmdstat_hset"] == 1
    EchoJob.perform_later("after")
    assert redis_client.hlen("rider:record") == 1


def test_a_scheduled_send_takes_no_rider(redis_client: redis.Redis) -> None:
    rider = Rider(lambda pipe: pipe.hset("rider:record", "status", "READY"))
    with riding(rider):
        EchoJob.set(wait=60).perform_later("later")
    assert not rider.applied
    assert not redis_client.exists("rider:record")


def test_a_rider_belongs_to_its_block_only(redis_client: redis.Redis) -> None:
    outer = Rider(lambda pipe: pipe.set("rider:outer", 1))
    inner = Rider(lambda pipe: pipe.set("rider:inner", 1))
    with riding(outer):
        with riding(inner):
            EchoJob.perform_later("inner")
        assert (inner.applied, outer.applied) == (True, False)
        EchoJob.perform_later("outer")
    assert outer.applied
    assert redis_client.exists("rider:outer", "rider:inner") == 2
