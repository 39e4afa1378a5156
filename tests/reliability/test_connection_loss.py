"""A broker connection dropped while jobs run: the running jobs run once, and are acknowledged.

Celery answers a lost broker connection by closing it and starting its consumer again, while the
pool goes on running the jobs it has. kombu's channel close hands every unacknowledged message back
to its queue, those of running jobs included, so each ran a second time (issue 28: a Sentinel
failover drops every client of the old master, as ``CLIENT KILL`` does here). conveyor's channel
now keeps the running jobs' messages claimed, its owner beating until each is acknowledged, and the
acknowledgement goes through the owner's own connection.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
import redis

from tests.reliability.conftest import Workers, report, wait_until
from tests.reliability.test_faults import diagnose, enqueuing_through, runs

pytestmark = [pytest.mark.redis, pytest.mark.processes]  # a real worker process; 6 s, so not in the slow tier


def test_a_broker_connection_dropped_mid_job_runs_each_running_job_once(
    rel_app: Any, records: redis.Redis, workers: Workers
) -> None:
    from tests.reliability.app import RecordJob, SlowJob

    started = time.monotonic()
    [worker] = workers.start(1, concurrency=2, RELIABILITY_SHIPPED="1")  # heartbeat TTL 30 s, interval 5 s
    broker = redis.Redis.from_url(workers.broker.url)
    with enqueuing_through(rel_app):
        running = [SlowJob.perform_later(3)]  # one child busy for 3 s, the fetch waiting for more
        queued = [RecordJob(5) for _ in range(20)]
    ids = [job.job_id for job in running]
    wait_until(lambda: all(records.hget("started", i) for i in ids), 30, message="the job started")
    waiting = lambda: any(client.get("cmd") == "blpop" for client in broker.client_list())  # noqa: E731
    wait_until(waiting, 30, message="the worker's fetch waiting on its wake-up list")

    # When every client connection of the broker is dropped (as the demotion of a failed-over master does)
    dropped = broker.client_kill_filter(_type="normal", skipme=True)
    assert dropped >= 1
    with enqueuing_through(rel_app):
        for job in queued:
            job.enqueue()

    # Then the running jobs finish, are acknowledged, and the queued ones run after them
    everything = {*ids, *(job.job_id for job in queued)}
    wait_until(
        lambda: records.scard("done") == len(queued) and all(records.hget("finished", i) == b"1" for i in ids),
        60,
        message=lambda: diagnose(records, broker, everything, [worker]),
    )
    wait_until(lambda: broker.hlen("unacked") == 0, 30, message=lambda: f"unacked: {broker.hkeys('unacked')}")
    # And nothing was handed back to run again: each running job started once, no queue holds a message
    assert [records.hget("started", i) for i in ids] == [b"1"]
    assert [key for key in broker.keys("rel*") if broker.llen(key)] == []
    assert set(runs(records).values()) == {1}
    assert worker.process.poll() is None  # the worker reconnected by itself
    assert "they stay claimed by this worker" in worker.output  # Celery saw the loss and restarted its consumer
    # And the owner that kept them signs off once they are acknowledged: one heartbeat left, the new channel's
    heartbeats = lambda: broker.keys("conveyor:heartbeat:*")  # noqa: E731
    wait_until(lambda: len(heartbeats()) == 1, 15, message=lambda: f"heartbeats: {heartbeats()}")
    assert broker.scard("conveyor:held:" + heartbeats()[0].decode().rpartition(":")[2]) == 0
    report(
        "15. every broker connection dropped (CLIENT KILL) while a job runs",
        21,
        0,
        0,
        time.monotonic() - started,
        f"{dropped} connection(s) dropped; the running jobs ran once and were acknowledged",
    )
