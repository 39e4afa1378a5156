"""Durable enqueue (``conveyor.broker.replicas``): with ``conveyor_enqueue_replicas`` an enqueue ends with WAIT.

On the test Redis (a master without replicas) every path says it was not replicated, and the job
is in Redis all the same; that a replica's confirmation lets it return is shown on a real replica
in ``test_sentinel_failover.py``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
import redis
from celery import Celery

import conveyor
from conveyor import perform_all_later, unique
from conveyor.broker import replicas
from conveyor.errors import NotReplicatedError
from tests.conftest import TEST_REDIS_URL
from tests.jobs import EchoJob


@unique(within=60, key=lambda **_: "one")
class UniqueEchoJob(EchoJob):
    """A @unique job: its lock and message go in one script, then WAIT."""


def test_wanted_reads_the_replicas_and_the_timeout_and_is_off_by_default() -> None:
    assert replicas.wanted({}) == (0, 0)
    assert replicas.wanted({"conveyor_enqueue_replicas": 0}) == (0, 0)
    assert replicas.wanted({"conveyor_enqueue_replicas": 2}) == (2, 1000)
    assert replicas.wanted({"conveyor_enqueue_replicas": 1, "conveyor_enqueue_replicas_timeout": 0.25}) == (1, 250)


def test_a_shortfall_is_an_error_saying_the_job_was_written_and_what_enqueuing_again_risks() -> None:
    with pytest.raises(NotReplicatedError) as caught:
        replicas.confirm(0, replicas.wanted({"conveyor_enqueue_replicas": 1}), "job 42")
    assert str(caught.value).startswith("job 42 was written to the Redis master, but 0 of the 1 replica(s)")
    assert "enqueuing it again may run it twice" in str(caught.value)
    assert (caught.value.wanted, caught.value.confirmed) == (1, 0)
    replicas.confirm(1, replicas.wanted({"conveyor_enqueue_replicas": 1}), "job 42")  # enough: nothing raised


@pytest.fixture
def durable_app(redis_client: redis.Redis, celery_app: Celery) -> Iterator[Celery]:
    app = conveyor.configure(
        Celery("durable"),
        default=False,
        broker_url=TEST_REDIS_URL,
        broker_transport_options={"conveyor_enqueue_replicas": 1, "conveyor_enqueue_replicas_timeout": 0.1},
    )
    app.set_current()
    try:
        yield app
    finally:
        celery_app.set_current()
        app.close()


def queued(client: redis.Redis) -> int:
    return sum(client.llen(key) for key in client.keys("default*"))


def test_every_enqueue_path_waits_for_the_replica_and_says_so_when_none_confirmed(
    durable_app: Celery, redis_client: redis.Redis
) -> None:
    # Given a master with no replica, and durable enqueue asking for one (0.1 s)
    assert redis_client.info("replication")["connected_slaves"] == 0
    # When a job is sent, a @unique one, a batch, and one for later (the scheduled set)
    for send in (
        lambda: EchoJob.perform_later(1),
        lambda: UniqueEchoJob.perform_later(2),
        lambda: perform_all_later([EchoJob(3), EchoJob(4)]),
        lambda: EchoJob.set(wait=dt.timedelta(minutes=5)).perform_later(5),
    ):
        # Then each raises NotReplicatedError naming the shortfall
        with pytest.raises(NotReplicatedError, match=r"0 of the 1 replica\(s\) .* within 100 ms"):
            send()
    # And every job is in Redis all the same: four in the queue, one in the scheduled set
    assert queued(redis_client) == 4
    assert redis_client.zcard("conveyor:scheduled") == 1
    stats = redis_client.info("commandstats")
    assert int(stats["cmdstat_wait"]["calls"]) >= 4


def test_a_batch_that_was_not_replicated_still_marks_its_jobs_enqueued(durable_app: Celery) -> None:
    jobs = [EchoJob(n) for n in range(3)]
    with pytest.raises(NotReplicatedError):
        perform_all_later(jobs)
    assert [job.successfully_enqueued for job in jobs] == [True, True, True]
