"""Riders: a caller's write in the pipeline of one job's send, before its push; other sends do not carry it."""

from __future__ import annotations

import pytest
import redis

from conveyor.broker.riders import Rider, riding
from tests.jobs import EchoJob
from tests.redis_reading import queued_messages

pytestmark = pytest.mark.redis


def test_the_jobs_send_carries_the_write_once_and_says_so(redis_client: redis.Redis) -> None:
    job = EchoJob("hello")
    rider = Rider(job.job_id, lambda pipe: pipe.hset("rider:record", mapping={"status": "READY"}))
    redis_client.config_resetstat()
    with riding(rider):
        job.enqueue()
        EchoJob.perform_later("another job, sent in the same block")
    assert rider.applied
    assert redis_client.hgetall("rider:record") == {b"status": b"READY"}
    sent = [message["headers"]["id"] for message in queued_messages(redis_client, "default")]
    assert len(sent) == 2
    assert job.job_id in sent
    # One write: the other job's send in the block did not carry it
    calls = {name: int(stats["calls"]) for name, stats in redis_client.info("commandstats").items()}
    assert calls["cmdstat_hset"] == 1


def test_a_scheduled_send_takes_no_rider(redis_client: redis.Redis) -> None:
    job = EchoJob("later")
    rider = Rider(job.job_id, lambda pipe: pipe.hset("rider:record", "status", "READY"))
    with riding(rider):
        job.enqueue(wait=60)
    assert job.successfully_enqueued
    assert not rider.applied
    assert not redis_client.exists("rider:record")


def test_a_rider_belongs_to_its_block_only(redis_client: redis.Redis) -> None:
    outer_job, inner_job = EchoJob("outer"), EchoJob("inner")
    outer = Rider(outer_job.job_id, lambda pipe: pipe.set("rider:outer", 1))
    inner = Rider(inner_job.job_id, lambda pipe: pipe.set("rider:inner", 1))
    with riding(outer):
        with riding(inner):
            inner_job.enqueue()
            outer_job.enqueue()  # its rider is not the current one here
        assert (inner.applied, outer.applied) == (True, False)
    assert redis_client.exists("rider:outer", "rider:inner") == 1
