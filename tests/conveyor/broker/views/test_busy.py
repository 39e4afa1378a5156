"""Who is running what (``conveyor.broker.views.busy``): owners and the jobs they hold, read from Redis alone."""

from __future__ import annotations

import json
import time
from typing import Any

import redis
from celery import Celery

from conveyor.broker.fetch.owners import heartbeat_key, held_key
from conveyor.broker.views.busy import busy, workers
from conveyor.keys import OWNERS_KEY
from tests.conveyor.broker.owned_queue import QUEUE, kill, send


def test_busy_and_workers_show_what_each_worker_holds_and_who_is_dead(
    app: Celery, consumers: Any, redis_client: redis.Redis
) -> None:
    send(app, 2)
    first, second = consumers(), consumers()
    held = first.take()
    second.take()
    kill(redis_client, second.owner)

    found = {owner.id: owner for owner in workers(redis_client)}
    assert found[first.owner.id].alive
    assert found[first.owner.id].holding == 1
    assert found[first.owner.id].queues == [QUEUE]
    assert not found[second.owner.id].alive  # dead, its job not recovered yet
    running = busy(redis_client, now=time.time() + 10)
    assert [(job.owner, job.job_id, job.queue) for job in running] == [
        (first.owner.id, held.headers["id"], QUEUE),
        (second.owner.id, "job-1", QUEUE),
    ]
    assert 10 <= running[0].runtime_s < 15  # type: ignore[operator]


def test_workers_are_listed_most_recent_heartbeat_first_whatever_their_heartbeat_holds(
    redis_client: redis.Redis,
) -> None:
    # Given a live owner holding two jobs, and a dead one whose last heartbeat was older
    redis_client.zadd(OWNERS_KEY, {"old": 100.0, "new": 200.0})
    heartbeat = {"host": "web-1", "pid": 12, "queues": ["default"], "started_at": 50}
    redis_client.set(heartbeat_key("new"), json.dumps(heartbeat))
    redis_client.sadd(held_key("new"), "t1", "t2")

    # When the workers are read
    found = workers(redis_client)

    # Then the live one comes first with what its heartbeat says; the dead one shows what is known
    assert [(w.id, w.host, w.pid, w.queues, w.started_at, w.last_beat, w.alive, w.holding) for w in found] == [
        ("new", "web-1", 12, ["default"], 50.0, 200.0, True, 2),
        ("old", "?", None, [], None, 100.0, False, 0),
    ]


def test_busy_jobs_come_longest_running_first_and_an_unreadable_record_shows_its_tag(
    redis_client: redis.Redis,
) -> None:
    # Given an owner holding a job claimed at 100 and a tag whose unacked record is unreadable, claimed at 50
    redis_client.zadd(OWNERS_KEY, {"o": 1.0})
    redis_client.set(heartbeat_key("o"), json.dumps({"host": "h", "pid": 3}))
    redis_client.sadd(held_key("o"), "t-ok", "t-bad")
    message = {"headers": {"task": "tasks.reports.ReportJob", "id": "job-7"}}
    redis_client.hset("unacked", mapping={"t-ok": json.dumps([message, "", "reports"]), "t-bad": "garbage"})
    redis_client.zadd("unacked_index", {"t-ok": 100.0, "t-bad": 50.0})

    # When the busy jobs are read at 130
    found = busy(redis_client, now=130.0)

    # Then the older claim comes first, each with its runtime
    assert [(j.job_class, j.task, j.job_id, j.queue, j.since, j.runtime_s) for j in found] == [
        ("?", "?", "t-bad", "?", 50.0, 80.0),
        ("ReportJob", "tasks.reports.ReportJob", "job-7", "reports", 100.0, 30.0),
    ]
    assert {(j.owner, j.host, j.pid) for j in found} == {("o", "h", 3)}
