"""The app the fault-injection suite runs in real worker processes (``celery -A tests.reliability.app worker``).

Its broker is a private redis-server the suite starts (and restarts); jobs record
what they did in another Redis, so a broker restart cannot lose the evidence. The
visibility timeout and the super fetch's heartbeat TTL are shortened to seconds so
recovery happens within a test, except in a worker started with RELIABILITY_SHIPPED=1,
which keeps conveyor's shipped defaults (visibility timeout 3600 s, heartbeat TTL 30 s).
"""

from __future__ import annotations

import json
import os
import time

from celery import Celery

import conveyor
from conveyor import Job, limits_concurrency, throttle, unique
from tests.reliability.records import records

BROKER_URL = os.environ.get("RELIABILITY_BROKER_URL", "redis://127.0.0.1:6379/6")
VISIBILITY_TIMEOUT = float(os.environ.get("RELIABILITY_VISIBILITY_TIMEOUT", "5"))
HEARTBEAT_TTL = float(os.environ.get("RELIABILITY_HEARTBEAT_TTL", "4"))
SHIPPED = os.environ.get("RELIABILITY_SHIPPED") == "1"
# The suite's short timeouts, or none (conveyor's defaults) for the shipped-defaults scenarios.
SHORT = (
    {}
    if SHIPPED
    else {
        "broker_transport_options": {
            "visibility_timeout": VISIBILITY_TIMEOUT,
            "unacked_restore_interval": 1,
            "conveyor_heartbeat_ttl": HEARTBEAT_TTL,
            "conveyor_heartbeat_interval": 1,
        },
        "result_backend_transport_options": {"visibility_timeout": VISIBILITY_TIMEOUT},
    }
)

app = conveyor.configure(
    Celery("reliability"),
    default=False,  # the test process keeps the service app as its default
    broker_url=BROKER_URL,
    result_backend=BROKER_URL,
    task_ignore_result=True,
    task_default_queue="rel",
    **SHORT,  # type: ignore[arg-type]
    conveyor_scheduled_threshold=1,
    conveyor_scheduled_poll_interval=0.2,
    worker_soft_shutdown_timeout=float(os.environ.get("RELIABILITY_SOFT_SHUTDOWN", "3")),
    worker_hijack_root_logger=False,
    conveyor_production=os.environ.get("RELIABILITY_PRODUCTION") == "1",
    # Only to show the suite catches loss: RELIABILITY_ACKS_LATE=0 acknowledges on receipt.
    task_acks_late=os.environ.get("RELIABILITY_ACKS_LATE", "1") == "1",
)


class RecordJob(Job):
    """Takes ``sleep_ms``, then records that it ran (idempotently in ``done``, counted in ``runs``)."""

    queue_as = "rel"

    def perform(self, sleep_ms: int) -> None:
        time.sleep(sleep_ms / 1000)
        with records().pipeline() as pipe:
            pipe.sadd("done", self.job_id)
            pipe.hincrby("runs", self.job_id, 1)
            pipe.hset("last_run", self.job_id, time.time())
            pipe.execute()


class SlowJob(Job):
    """Records its pid and start, sleeps ``seconds`` (``later_seconds`` when it runs again), records its end."""

    queue_as = "rel"

    def perform(self, seconds: float, later_seconds: float | None = None) -> None:
        client = records()
        client.hset("pid", self.job_id, os.getpid())
        first = client.hincrby("started", self.job_id, 1) == 1
        time.sleep(seconds if first or later_seconds is None else later_seconds)
        client.hincrby("finished", self.job_id, 1)


class DelayedJob(Job):
    """Counts its runs."""

    queue_as = "rel"

    def perform(self) -> None:
        records().hincrby("runs", self.job_id, 1)


class FlakyJob(Job):
    """Fails until the ``fixed`` key exists (no retry_on: it goes to the dead set)."""

    queue_as = "rel"

    def perform(self) -> None:
        if not records().exists("fixed"):
            raise RuntimeError("not fixed yet")
        records().hincrby("runs", self.job_id, 1)


class KillerJob(Job):
    """Kills the process running it (``kill -9`` of itself: a segfault, the OOM killer), counted in ``runs``."""

    queue_as = "rel"

    def perform(self) -> None:
        records().hincrby("runs", self.job_id, 1)
        os.kill(os.getpid(), 9)


@limits_concurrency(to=1, key=lambda key, **_: key, duration=60)
class LimitedJob(Job):
    """At most one per key at a time: records its [start, end] under ``intervals:<key>``."""

    queue_as = "rel"

    def perform(self, key: str, ms: int, later_ms: int | None = None) -> None:
        client = records()
        first = client.hincrby("started", self.job_id, 1) == 1
        client.hset("pid", self.job_id, os.getpid())
        start = time.time()
        time.sleep((ms if first or later_ms is None else later_ms) / 1000)
        client.rpush(f"intervals:{key}", json.dumps([start, time.time(), self.job_id]))
        client.sadd("done", self.job_id)


@throttle(limit=5, period=2, key=lambda key, **_: key)
class ThrottledJob(Job):
    """At most 5 starts per 2 s per key: records its start time under ``starts:<key>``."""

    queue_as = "rel"

    def perform(self, key: str) -> None:
        records().rpush(f"starts:{key}", time.time())
        records().sadd("done", self.job_id)


@unique(within=60)
class UniqueJob(Job):
    """One per argument at a time; fails (no retry: dead set) when told to."""

    queue_as = "rel"

    def perform(self, name: str, fail: bool = False) -> None:
        if fail:
            raise RuntimeError("told to fail")
        records().hincrby("runs", self.job_id, 1)


class ContinuableImportJob(Job):
    """Three steps; ``process`` handles rows ``0..total-1`` (``row_ms`` each), advancing the cursor after each.

    Records, per row, which worker processed it (``rows``: "<row> <hostname> <time>"), each step's runs
    (``steps``), and the resumptions seen at the end (``resumptions``).
    """

    queue_as = "rel"

    def perform(self, total: int, row_ms: int) -> None:
        client, worker = records(), self._task.request.hostname if self._task else "-"
        for _ in self.step("initialize"):
            client.rpush("steps", f"initialize {worker}")
        for step in self.step("process", start=0):
            for row in range(step.cursor, total):
                time.sleep(row_ms / 1000)
                client.rpush("rows", f"{row} {worker} {time.time()}")
                step.advance()
        for _ in self.step("finalize"):
            client.rpush("steps", f"finalize {worker}")
        client.rpush("resumptions", self.resumptions)


from tests.reliability import async_jobs, batch_jobs  # noqa: E402,F401 - their jobs run in the same workers
