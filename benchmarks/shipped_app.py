"""Two apps for the "as shipped" benchmarks: conveyor as the reference service ships it, and plain
Celery with Celery's defaults.

``BENCH_SIDE=conveyor``: ``conveyor.configure`` with a Redis result backend and the service's
``config/worker.yaml`` queues (weighted), as the reference service runs (task events on for Flower,
acks late, prefetch 1, the super fetch); a no-op Job. ``BENCH_SIDE=plain``: ``Celery(broker=...)`` and
nothing else (no result backend, no events, early acks, prefetch 4, kombu's own fetch); a no-op task.
Both have a ``mark`` task/job that records the time under a key (the start and end of a drain).

``BENCH_OVERRIDES`` (JSON, conveyor side only) changes settings of the shipped app, for the breakdown
of what each costs (``python -m benchmarks.shipped --breakdown``).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import redis
from celery import Celery

import conveyor
from conveyor import Job
from conveyor.broker.worker_file import apply, load_worker_config

__all__ = ["QUEUE", "SIDE", "app", "enqueue_mark", "enqueue_noop"]

REDIS_URL = os.environ["REDIS_URL"]
SIDE = os.environ.get("BENCH_SIDE", "conveyor")
OVERRIDES = json.loads(os.environ.get("BENCH_OVERRIDES", "{}"))
_redis = redis.Redis.from_url(REDIS_URL)

if SIDE == "conveyor":
    app = conveyor.configure(Celery("shipped"), **{"broker_url": REDIS_URL, "result_backend": REDIS_URL, **OVERRIDES})
    apply(app, load_worker_config(Path(__file__).resolve().parents[1] / "config" / "worker.yaml"))
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


def fill(jobs: int) -> None:
    """A start marker, ``jobs`` no-op jobs and an end marker, queued (not timed)."""
    if SIDE == "conveyor":
        from conveyor import perform_all_later

        perform_all_later([ShippedMarkJob("bench:start")] + [ShippedNoopJob(i) for i in range(jobs)])
        perform_all_later([ShippedMarkJob("bench:end")])
    else:
        plain_mark.apply_async(("bench:start",))
        with app.producer_or_acquire() as producer, producer.batch(max_size=5000):
            for i in range(jobs):
                plain_noop.apply_async((i,), producer=producer)
        plain_mark.apply_async(("bench:end",))
