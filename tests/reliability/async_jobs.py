"""Async jobs the fault suite runs in real worker processes (imported by ``tests.reliability.app``).

Each process opens one ``redis.asyncio`` client on its event loop (``@conveyor.on_loop_start``)
and closes it at shutdown: every job of the process uses that client, so a job on another loop
would fail with "attached to a different loop". Jobs record, in the records Redis, their runs, the
process, loop and client they ran on, and when they started and ended.
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

import redis.asyncio
from celery.exceptions import SoftTimeLimitExceeded

import conveyor
from conveyor import Job, limits_concurrency, retry_on
from tests.reliability.records import RECORDS_URL

_clients: dict[int, Any] = {}
#: How many times this process's loop started (the hooks do no I/O: they also run in the test process).
_starts: dict[int, int] = {}


@conveyor.on_loop_start
async def open_records() -> None:
    pid = os.getpid()
    _clients[pid] = redis.asyncio.Redis.from_url(os.environ.get("RELIABILITY_RECORDS_URL", RECORDS_URL))
    _starts[pid] = _starts.get(pid, 0) + 1


@conveyor.on_loop_stop
async def close_records() -> None:
    client = _clients.pop(os.getpid(), None)
    if client is not None:
        await client.aclose()


def records_async() -> Any:
    return _clients[os.getpid()]


async def record_run(job: Job, started: float) -> None:
    loop, client = id(asyncio.get_running_loop()), records_async()
    async with client.pipeline(transaction=False) as pipe:
        pipe.sadd("done", job.job_id)
        pipe.hincrby("runs", job.job_id, 1)
        pipe.hset("where", job.job_id, f"{os.getpid()} {loop} {id(client)} {_starts[os.getpid()]}")
        pipe.hset("started", job.job_id, started)
        pipe.hset("ended", job.job_id, time.time())
        await pipe.execute()


class AwaitingJob(Job):
    """Awaits ``seconds`` of simulated I/O, then records its run with the process's one client."""

    queue_as = "rel"

    async def perform(self, seconds: float) -> None:
        started = time.time()
        await records_async().sadd("running", self.job_id)
        await asyncio.sleep(seconds)
        await record_run(self, started)


@retry_on(SoftTimeLimitExceeded, wait=1, attempts=2)
class SoftLimitedJob(Job):
    """Awaits 60 s on its first run: the soft limit (1 s) cancels it, retry_on sends it again; the retry is quick."""

    queue_as = "rel"
    soft_time_limit, time_limit = 1, 10

    async def perform(self) -> None:
        started = time.time()
        client = records_async()
        try:
            await client.hset("attempt_started", f"{self.job_id}:{self.executions}", started)
            if self.executions == 1:
                await asyncio.sleep(60)
        finally:
            await client.hset("finally", f"{self.job_id}:{self.executions}", time.time())
        await record_run(self, started)


@limits_concurrency(to=2, key=lambda key, **_: key, duration=60)
class LimitedAsyncJob(Job):
    """At most two per key at a time, however many threads the worker has: records its [start, end]."""

    queue_as = "rel"

    async def perform(self, key: str, seconds: float) -> None:
        started = time.time()
        await asyncio.sleep(seconds)
        await records_async().rpush(f"async-intervals:{key}", f"{started} {time.time()}")
        await record_run(self, started)


class FailingAsyncJob(Job):
    """Raises from its coroutine, with no retry_on: it ends in the dead set."""

    queue_as = "rel"

    async def perform(self, reason: str) -> None:
        await asyncio.sleep(0)
        raise ValueError(reason)
