"""Two apps for ``benchmarks.command_counts``: conveyor as a service ships it, and plain Celery with its defaults.

``BENCH_SIDE=conveyor``: ``conveyor.configure`` with a Redis result backend, as the reference
service runs (task events on for Flower, acks late, prefetch 1, the super fetch); a no-op Job.
``BENCH_SIDE=plain``: ``Celery(broker=...)`` and nothing else (no result backend, no events,
early acks, prefetch 4, kombu's own fetch); a no-op task. Both have a ``mark`` task/job that
records the time under a key (the end of a drain).
"""

from __future__ import annotations

import os
import time

import redis
from celery import Celery

import conveyor
from conveyor import Job
from conveyor.broker.worker_file import WorkerConfig, apply

__all__ = ["QUEUE", "SIDE", "app", "enqueue_mark", "enqueue_noop"]

REDIS_URL = os.environ["REDIS_URL"]
SIDE = os.environ.get("BENCH_SIDE", "conveyor")
_redis = redis.Redis.from_url(REDIS_URL)

if SIDE == "conveyor":
    app = conveyor.configure(Celery("shipped"), broker_url=REDIS_URL, result_backend=REDIS_URL)
    apply(app, WorkerConfig(concurrency=2, queues=["default"]))
    QUEUE = "default"
else:
    app = Celery("plain", broker=REDIS_URL, set_as_current=True)
    QUEUE = "celery"


class ShippedNoopJob(Job):
    def perform(self, n: int) -> None:
        pass


class ShippedMarkJob(Job):
    def perform(self, key: str) -> None:
        _redis.set(key, time.time())


@app.task(name="shipped.plain_noop")  # type: ignore[untyped-decorator]
def plain_noop(n: int) -> None:
    pass


@app.task(name="shipped.plain_mark")  # type: ignore[untyped-decorator]
def plain_mark(key: str) -> None:
    _redis.set(key, time.time())


def enqueue_noop(n: int) -> None:
    """One no-op job the way each side's users enqueue one."""
    if SIDE == "conveyor":
        ShippedNoopJob.perform_later(n)
    else:
        plain_noop.apply_async((n,))


def enqueue_mark(key: str) -> None:
    if SIDE == "conveyor":
        ShippedMarkJob.perform_later(key)
    else:
        plain_mark.apply_async((key,))
