"""The scheduled set: delayed jobs wait in a Redis sorted set, not in a worker's memory.

Celery sends a delayed job (``countdown``/``eta``) to its queue at once; a worker
takes it and holds it, unacknowledged, until it is due. On Redis that message is
delivered again to another worker when the visibility timeout passes while it
waits (kombu#337): a job delayed past the timeout runs several times, and every
waiting job costs worker memory. Sidekiq keeps delayed jobs in a sorted set
scored by due time instead, and conveyor does the same:

- ``set(wait=…)``, ``set(wait_until=…)`` and retry waits longer than
  ``conveyor_scheduled_threshold`` (5 s) are stored as the finished kombu message
  plus its queue key in the sorted set ``conveyor:scheduled``, scored by due time;
- every worker runs a :class:`Poller` thread (leader-less) that moves due jobs to
  their queue with one Lua script: a job is taken out of the set and pushed in the
  same atomic step, so two workers polling at once cannot both move it;
- shorter waits stay Celery ETA messages: they are due long before any visibility
  timeout, and ETA keeps them millisecond-precise.

The poller sleeps until the next entry is due (the move script returns its time), and at most
the poll interval, which is never longer than the threshold (both 5 s by default): an entry
added while it sleeps is due more than the threshold later, so the poller has looked again by
then and moves it on time. An idle worker's poller costs Redis 4 commands every 2.5-5 s (it
polled every second: ~180 commands a minute, more than the rest of an idle worker together).

Example::

    ReportGenerationJob.set(wait=3600).perform_later(42)   # ZADD conveyor:scheduled <due> <message>
    move_due(client)                                        # what each worker's poller does when one is due
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import random
import threading
import time
from typing import Any

from celery import bootsteps

from conveyor.broker.controls import check_unique_lock
from conveyor.broker.dead.dead_set import DeadSet
from conveyor.broker.scripts import Script
from conveyor.defaults import DEFAULT_SCHEDULED_THRESHOLD, SCHEDULED_POLL_INTERVAL_S
from conveyor.keys import SCHEDULED_KEY, WAKE_CAP, wake_key
from conveyor.records import dead_record
from conveyor.settings import Settings, redis_client

__all__ = ["MALFORMED_KEY", "SCHEDULED_KEY", "Poller", "SchedulePoller", "add", "count", "move_due"]

#: The poller's own generator: the global ``random`` stream is the application's (and its tests').
_RANDOM = random.Random()

logger = logging.getLogger("conveyor.broker.scheduled.scheduled_set")

#: Entries of the scheduled set that were not valid, on their way to the dead set.
MALFORMED_KEY = SCHEDULED_KEY + ":malformed"
#: Moved per script call, so one call never blocks Redis for long; the poller calls again while some were due.
BATCH = 100

# Atomic: a job leaves the set and enters its queue in one step, whichever worker runs it first
# (lua/move_due.lua); a malformed member goes to a holding list, then to the dead set.
_MOVE_DUE = Script("move_due", helpers=True)


def add(
    client: Any,
    queue_key: str,
    message: str,
    due: float,
    job_id: str,
    queue: str | None = None,
    unique: tuple[str, int] | None = None,
) -> str | None:
    """Store ``message`` (a kombu Redis envelope, JSON) to be pushed onto ``queue_key`` at ``due`` (epoch s).

    ``queue`` names the queue whose idle workers are woken when it is moved. ``unique`` (lock
    key, TTL in ms) takes a ``@unique`` lock in the same step; returns the holder's job id
    (and stores nothing) if another job holds it, else None.
    """
    fields = {"key": queue_key, "message": message, "id": job_id, "wake": wake_key(queue) if queue else None}
    entry = json.dumps(fields, separators=(",", ":"))
    if unique is None:
        client.zadd(SCHEDULED_KEY, {entry: due})
        return None
    check_unique_lock(unique[0], job_id)
    holder = _ADD_UNIQUE(client, [unique[0], SCHEDULED_KEY], [job_id, unique[1], due, entry])
    return holder.decode() if isinstance(holder, bytes) else None


# The lock and the entry in one step: UNIQUE_PUT's lock (conveyor.broker.controls).
_ADD_UNIQUE = Script("schedule_unique", helpers=True)


def move_due(client: Any, now: float | None = None, limit: int = BATCH) -> int:
    """Move up to ``limit`` jobs due by ``now`` to their queues; returns how many moved."""
    return _move_due(client, now, limit)[0]


def _move_due(client: Any, now: float | None = None, limit: int = BATCH) -> tuple[int, float | None]:
    """``move_due``, and when the next entry left in the set is due (epoch s; None if the set is empty)."""
    keys, now = [SCHEDULED_KEY, MALFORMED_KEY], time.time() if now is None else now
    moved, set_aside, next_due = _MOVE_DUE(client, keys, [now, limit, WAKE_CAP])
    if set_aside:  # rare: only then a second round trip (the script reports what waits there, left over too)
        _bury_malformed(client)
    return int(moved), float(next_due) if next_due else None


def _bury_malformed(client: Any) -> None:
    """File the entries the move script set aside in the dead set (each removed only once it is filed)."""
    for item in client.lrange(MALFORMED_KEY, 0, 99):
        raw = item if isinstance(item, bytes) else str(item).encode()
        reason = "malformed entry in the scheduled set (not a JSON object with key and message strings)"
        record = dead_record(
            f"malformed-scheduled-{hashlib.sha1(raw).hexdigest()[:16]}",
            reason,
            raw_entry=base64.b64encode(raw).decode(),
        )
        DeadSet(client).add(record)
        client.lrem(MALFORMED_KEY, 1, item)
        logger.error("conveyor: %s; kept in the dead set as %s: %r", reason, record["id"], raw[:200])


def count(client: Any) -> int:
    """How many jobs wait in the scheduled set."""
    return int(client.zcard(SCHEDULED_KEY))


def entries(client: Any, limit: int = 100) -> list[dict[str, Any]]:
    """The next ``limit`` scheduled jobs, soonest first: id, queue key, due (epoch s), message."""
    rows = client.zrange(SCHEDULED_KEY, 0, limit - 1, withscores=True)
    return [{**json.loads(member), "due": score} for member, score in rows]


class Poller(threading.Thread):
    """Moves due jobs to their queues when the next one is due, looking at least every ``interval`` s.

    ``threshold`` is the shortest wait the scheduled set holds: the poller never sleeps longer, so an
    entry added while it sleeps is seen before it is due.
    """

    def __init__(
        self,
        redis: Any,
        interval: float = SCHEDULED_POLL_INTERVAL_S,
        threshold: float = DEFAULT_SCHEDULED_THRESHOLD,
        **client_options: Any,
    ) -> None:
        # redis: an app (its broker's Redis, Sentinel included) or a URL.
        super().__init__(name="conveyor-scheduled-poller", daemon=True)
        self.client = redis_client(redis, **client_options)
        self.interval = min(interval, threshold)
        self._stopped = threading.Event()

    def run(self) -> None:
        try:  # left in the holding list by a poller that stopped between its move and the dead set
            if self.client.llen(MALFORMED_KEY):
                _bury_malformed(self.client)
        except Exception as exc:  # Redis away: the next entry set aside files these too
            logger.warning("conveyor: could not file malformed scheduled entries: %s: %s", type(exc).__name__, exc)
        while not self._stopped.is_set():
            self._stopped.wait(self._poll())

    def _poll(self) -> float:
        """Move what is due; how long to sleep before the next poll."""
        # Between half and all of the interval when nothing is due sooner: workers spread their polls.
        sleep = self.interval * _RANDOM.uniform(0.5, 1.0)
        try:
            moved, next_due = _move_due(self.client)
            while moved == BATCH and not self._stopped.is_set():  # more were due than one call moves
                moved, next_due = _move_due(self.client)
        except Exception as exc:  # Redis away: the jobs stay in the set; try again next time
            logger.warning("conveyor: could not move due scheduled jobs: %s: %s", type(exc).__name__, exc)
            return sleep
        if next_due is not None:
            # At its due time, a few milliseconds apart across workers (the first one moves it).
            sleep = min(sleep, max(0.0, next_due - time.time()) + _RANDOM.uniform(0.0, 0.02))
        return sleep

    def stop(self, timeout: float = 5.0) -> None:
        self._stopped.set()
        if self.is_alive():
            self.join(timeout)
        self.client.close()


class SchedulePoller(bootsteps.StartStopStep):  # type: ignore[misc]
    """Worker bootstep: one :class:`Poller` per worker (main process), on the broker's Redis."""

    label = "conveyor scheduled poller"

    def __init__(self, worker: Any, **kwargs: Any) -> None:
        super().__init__(worker, **kwargs)
        self.poller: Poller | None = None

    def start(self, worker: Any) -> None:
        settings = Settings.from_app(worker.app)
        if not settings.uses_redis:
            return
        self.poller = Poller(
            worker.app,
            interval=settings.scheduled_poll_interval,
            threshold=settings.scheduled_threshold,
            socket_connect_timeout=settings.redis_connect_timeout,
            socket_timeout=settings.redis_socket_timeout,
        )
        self.poller.start()

    def stop(self, worker: Any) -> None:
        if self.poller is not None:
            self.poller.stop()
            self.poller = None

    # A cold shutdown (and the test worker's) calls terminate, a warm one stop.
    shutdown = terminate = stop
