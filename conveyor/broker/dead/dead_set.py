"""The dead set: jobs that will not run again by themselves, kept for a person to retry or delete.

A job lands here (Sidekiq's "Dead" tab) when it failed for good: its ``retry_on``
attempts ran out, it raised an error nothing handles, or a worker could not run its
message at all (unknown job class, a module that fails to import, an undecodable
body; see ``conveyor.broker.fetch.consumer``). Each record keeps the job class, arguments, queue,
priority, error, backtrace, attempts and time, and what is needed to send it again.

Storage: a sorted set ``conveyor:dead`` (job id → time of death) and a hash
``conveyor:dead:jobs`` (job id → JSON record), changed together by Lua scripts. It is
capped and expiring like Sidekiq's: ``conveyor_dead_max_jobs`` (10,000; the oldest go
first) and ``conveyor_dead_timeout`` (180 days), applied at every addition.

Example::

    dead = DeadSet.for_app(app)
    for record in dead.list():
        print(record["id"], record["job_class"], record["error"])
    dead.retry(app, record["id"])     # sent again to its queue, removed from the set
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import logging
import time
import uuid
from typing import Any

import redis
from celery import Celery
from kombu.exceptions import OperationalError as KombuOperationalError

from conveyor.broker.dead.retry_plan import resend, retry_plan
from conveyor.broker.scripts import Script
from conveyor.defaults import DEAD_MAX_JOBS, DEAD_TIMEOUT
from conveyor.keys import DEAD_JOBS_KEY, DEAD_KEY
from conveyor.records import DeadRecord, RawMessage, dead_record
from conveyor.settings import Settings, redis_client

__all__ = ["BROKER_ERRORS", "DEAD_JOBS_KEY", "DEAD_KEY", "DeadSet", "bury_entry", "raw_message"]

logger = logging.getLogger("conveyor.broker.dead.dead_set")

# Errors of the broker connection (Redis away, restarting, loading): never a reason a job is dead.
# (Python's ConnectionError and TimeoutError are OSErrors; redis' BusyLoadingError is a ConnectionError.)
BROKER_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    redis.ConnectionError,
    redis.TimeoutError,
    KombuOperationalError,
)

# Add then trim in one step; trim alone after a script that wrote records itself (lua/dead_*.lua).
_ADD = Script("dead_add", "dead_trim")
_TRIM = Script("dead_trim")
_TAKE = Script("dead_take")


class DeadSet:
    """The dead jobs on one Redis."""

    def __init__(self, client: Any, max_jobs: int = DEAD_MAX_JOBS, timeout: float = DEAD_TIMEOUT) -> None:
        self.client = client
        self.max_jobs = max_jobs
        self.timeout = timeout

    @classmethod
    def for_app(cls, app: Celery) -> DeadSet:
        """The app's dead set, on its broker's Redis (one client per app and process)."""
        cached: DeadSet | None = getattr(app, "_conveyor_dead_set", None)
        if cached is None:
            settings = Settings.from_app(app)
            cached = cls(redis_client(app), max_jobs=settings.dead_max_jobs, timeout=settings.dead_timeout)
            app._conveyor_dead_set = cached
        return cached

    def add(self, record: DeadRecord, now: float | None = None) -> int:
        """Keep ``record`` (built with ``conveyor.records.dead_record``); returns how many old records were dropped."""
        now = time.time() if now is None else now
        data = self.encode(record, now)
        return int(
            _ADD(self.client, [DEAD_KEY, DEAD_JOBS_KEY], [record["id"], now, data, self.max_jobs, now - self.timeout])
        )

    @staticmethod
    def encode(record: DeadRecord, now: float) -> str:
        """The stored form of ``record`` dying at ``now`` (for scripts that write records themselves)."""
        return json.dumps({"failed_at": dt.datetime.fromtimestamp(now, dt.UTC).isoformat(), **record}, default=repr)

    def trim(self, now: float | None = None) -> int:
        """Apply the cap and the age limit (after records were added by another script); how many went."""
        now = time.time() if now is None else now
        return int(_TRIM(self.client, [DEAD_KEY, DEAD_JOBS_KEY], ["", "", "", self.max_jobs, now - self.timeout]))

    def list(self, limit: int = 100, offset: int = 0) -> list[dict[str, Any]]:
        """Dead jobs, most recent first."""
        ids = self.client.zrevrange(DEAD_KEY, offset, offset + limit - 1)
        if not ids:
            return []
        return [json.loads(raw) for raw in self.client.hmget(DEAD_JOBS_KEY, ids) if raw is not None]

    def get(self, job_id: str) -> dict[str, Any] | None:
        raw = self.client.hget(DEAD_JOBS_KEY, job_id)
        return None if raw is None else json.loads(raw)

    def count(self) -> int:
        return int(self.client.zcard(DEAD_KEY))

    def delete(self, job_id: str) -> bool:
        return _TAKE(self.client, [DEAD_KEY, DEAD_JOBS_KEY], [job_id]) is not None

    def clear(self) -> int:
        count = self.count()
        self.client.delete(DEAD_KEY, DEAD_JOBS_KEY)
        return count

    def retry(self, app: Celery, job_id: str) -> bool:
        """Send the job again (same id, attempts counted afresh) and remove it; False if it is not here."""
        raw = _TAKE(self.client, [DEAD_KEY, DEAD_JOBS_KEY], [job_id])
        if raw is None:
            return False
        record = json.loads(raw)
        try:
            resend(app, record)
        except Exception:
            self.client.hset(DEAD_JOBS_KEY, job_id, raw)  # not sent: keep it
            self.client.zadd(DEAD_KEY, {job_id: time.time()})
            raise
        return True

    def retry_all(self, app: Celery) -> tuple[int, dict[str, str]]:
        """Send every retryable dead job again; returns how many were sent and, by id, why the others were not."""
        sent, refused = 0, {}
        for raw_id in self.client.zrange(DEAD_KEY, 0, -1):
            job_id = raw_id.decode() if isinstance(raw_id, bytes) else raw_id
            record = self.get(job_id)
            plan = retry_plan(app, record) if record is not None else None
            if plan is not None and plan.refusal is not None:
                refused[job_id] = plan.refusal  # kept for a person to delete
                continue
            sent += self.retry(app, job_id)
        return sent, refused


def bury_entry(client: Any, queue: str, item: bytes | str, reason: str) -> None:
    """Keep a queue entry that is not a message, raw, in the dead set; never raises (a worker goes on)."""
    raw = item if isinstance(item, bytes) else str(item).encode()
    job_id = f"unparsable-{uuid.uuid4()}"
    logger.error("conveyor: %s; kept in the dead set as %s: %r", reason, job_id, raw[:200])
    try:
        DeadSet(client).add(dead_record(job_id, reason, queue=queue, raw_entry=base64.b64encode(raw).decode()))
    except Exception as store_exc:  # never a reason to stop consuming
        logger.error("conveyor: could not keep it in the dead set: %s", store_exc)


def raw_message(message: Any) -> RawMessage:
    """What of a kombu message is needed to publish it again, JSON-safe."""
    body = message.body if isinstance(message.body, bytes) else str(message.body).encode()
    return {
        "body": base64.b64encode(body).decode(),
        "content_type": message.content_type,
        "content_encoding": message.content_encoding,
        "headers": message.headers or {},
    }
