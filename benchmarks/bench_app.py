"""The Celery app and jobs the benchmarks run: conveyor's defaults, queues from ``BENCH_QUEUES``.

``BENCH_QUEUES`` is the ``queues`` list of a worker.yaml, as JSON (e.g.
``["high", "default", "low"]`` or ``[["high", 2], ["low", 1]]``).
"""

from __future__ import annotations

import json
import os
import time

import redis
from celery import Celery

import conveyor
from conveyor import Job
from conveyor.worker_config import WorkerConfig, apply

REDIS_URL = os.environ["REDIS_URL"]
app = Celery("bench", set_as_current=True)
conveyor.configure(
    app, broker_url=REDIS_URL, result_backend=None, task_ignore_result=True, worker_send_task_events=False
)
apply(app, WorkerConfig(concurrency=2, queues=json.loads(os.environ.get("BENCH_QUEUES", '["default"]'))))
_redis = redis.Redis.from_url(REDIS_URL)


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
