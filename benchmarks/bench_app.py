"""The Celery app, jobs and plain tasks the benchmarks run.

Conveyor jobs and their plain-Celery twins do the same work with the same payload. The app
has conveyor's defaults and no result backend (fire-and-forget, as most jobs are), so
neither side pays for results. ``BENCH_QUEUES`` is a worker.yaml ``queues`` list as JSON.
``BENCH_FETCH`` picks how a worker fetches: ``super`` (conveyor's default: the reliable
fetch with owners and heartbeats), ``reliable`` (the Lua claim alone, conveyor before the
super fetch) or ``kombu`` (kombu's own ``BRPOP`` transport: plain Celery on Redis).
"""

from __future__ import annotations

import json
import os
import time

import redis
from celery import Celery

import conveyor
from conveyor import Batch, Job
from conveyor.broker.worker_file import WorkerConfig, apply

REDIS_URL = os.environ["REDIS_URL"]
FETCH = os.environ.get("BENCH_FETCH", "super")
app = Celery("bench", set_as_current=True)
conveyor.configure(
    app,
    broker_url=REDIS_URL,
    result_backend=None,
    task_ignore_result=True,
    worker_send_task_events=False,
    conveyor_log_arguments=False,
    broker_transport_options={"conveyor_super_fetch": FETCH == "super"},
)
if FETCH == "kombu":
    from conveyor.compat import kombu as kombu_compat

    for scheme in ("redis", "rediss"):
        kombu_compat.register_transport(scheme, "kombu.transport.redis:Transport")
apply(app, WorkerConfig(concurrency=2, queues=json.loads(os.environ.get("BENCH_QUEUES", '["default"]'))))
_redis = redis.Redis.from_url(REDIS_URL)


class NoopJob(Job):
    def perform(self, n: int) -> None:
        pass


@app.task(name="bench.plain_noop")  # type: ignore[untyped-decorator]
def plain_noop(n: int) -> None:
    pass


class MarkJob(Job):
    """Records the time it ran under ``key`` (start and end markers of a drain)."""

    def perform(self, key: str) -> None:
        _redis.set(key, time.time())


@app.task(name="bench.plain_mark")  # type: ignore[untyped-decorator]
def plain_mark(key: str) -> None:
    _redis.set(key, time.time())


class BatchMarkJob(Job):
    """A batch's callback: records the time it ran under ``key``."""

    def perform(self, batch: Batch, key: str) -> None:
        _redis.set(key, time.time())


class LatencyJob(Job):
    def perform(self, sent_at: float) -> None:
        _redis.lpush("bench:latency", time.time() - sent_at)


@app.task(name="bench.plain_latency")  # type: ignore[untyped-decorator]
def plain_latency(sent_at: float) -> None:
    _redis.lpush("bench:latency", time.time() - sent_at)


class BacklogJob(Job):
    """A low-priority job doing a few milliseconds of work."""

    queue_as = "low"

    def perform(self, work_ms: float) -> None:
        time.sleep(work_ms / 1000)


class UrgentJob(Job):
    """Records how long it waited from perform_later to its start."""

    queue_as = "high"

    def perform(self, sample: int) -> None:
        started = time.time()
        assert self.enqueued_at is not None
        _redis.lpush("bench:latencies", json.dumps([sample, started - self.enqueued_at.timestamp()]))


class LatenessJob(Job):
    """Records how late it started against the time it was scheduled for."""

    def perform(self, path: str) -> None:
        started = time.time()
        assert self.scheduled_at is not None
        _redis.lpush("bench:lateness", json.dumps([path, started - self.scheduled_at.timestamp()]))


class AsyncNoopJob(Job):
    """``NoopJob`` with ``async def perform``: what the trip to the process's event loop costs."""

    async def perform(self, n: int) -> None:
        pass


class AsyncIoJob(Job):
    """Awaits ``seconds`` of simulated I/O, then records when it ended."""

    async def perform(self, seconds: float) -> None:
        import asyncio

        await asyncio.sleep(seconds)
        _redis.rpush("bench:io-ended", time.time())
