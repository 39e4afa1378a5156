"""Unique locks, concurrency slots and throttle windows in Redis: the scripts behind ``@unique``,
``@limits_concurrency`` and ``@throttle`` (``conveyor.jobs.controls``).

Each declaration travels with the message as a header computed at enqueue, so the worker
never evaluates user code to enforce it, and every check is one Lua script:

- **unique** (header ``conveyor_unique``: lock key, TTL, until): the lock is taken in the
  same script that pushes the message (``UNIQUE_PUT``; the scheduled set's variant in
  ``conveyor.broker.scheduled.scheduled_set``), so two producers cannot both enqueue; a re-enqueue of
  the same job id (a retry) keeps the lock. The worker releases it (compare-and-delete) on
  success or at start, on discard, and when the job goes to the dead set.
- **concurrency** (``conveyor_limit``: key, to, duration, discard): the claim script
  (``conveyor.broker.fetch.claim``) takes a slot in the key's sorted set (job id → expiry) or, when
  all ``to`` are taken, moves the message to the key's *blocked* list instead of handing it
  to the worker: a blocked job waits in Redis, not in a worker slot. ``release_slot`` (at the
  end of each execution), the super fetch's recovery of a dead worker, and the heartbeat's
  sweep of expired slots (``duration``) move blocked jobs back to the head of their queue.
- **throttle** (``conveyor_throttle``: key, limit, period): the claim script keeps a
  sliding window of start times per key; a job over the limit goes to the scheduled set for
  the moment the window frees (plus jitter), not into a retry and not into a busy loop.

Redis keys: ``conveyor:unique:<job>:<key>``, ``conveyor:limit:<group or job>:<key>`` (+
``:blocked``), ``conveyor:throttle:<job>:<key>``; ``conveyor:limits`` lists the limit keys
in use and ``conveyor:limits:to`` their sizes (for the sweep and ``jobs limits``).

Example::

    release_slot(client, {"key": "conveyor:limit:tasks.x.ReportJob:42", "to": 1}, job_id)
"""

from __future__ import annotations

import json
import time
from typing import Any

from conveyor.broker.scripts import Script
from conveyor.errors import ConveyorError
from conveyor.keys import LIMIT_PREFIX, LIMITS_KEY, LIMITS_TO_KEY, THROTTLE_PREFIX, UNIQUE_PREFIX, WAKE_CAP, WAKE_PREFIX
from conveyor.validation import RESERVED_PREFIXES

__all__ = [
    "LIMIT_HEADER",
    "THROTTLE_HEADER",
    "UNIQUE_HEADER",
    "UNIQUE_PUT",
    "check_unique_lock",
    "limit_keys",
    "owned_key",
    "refuse_reserved",
    "release_slot",
    "release_unique",
    "sweep_limits",
    "throttle_keys",
    "unique_put",
]

#: The message headers the declarations travel in (set by conveyor.jobs.controls at enqueue).
UNIQUE_HEADER, LIMIT_HEADER, THROTTLE_HEADER = "conveyor_unique", "conveyor_limit", "conveyor_throttle"

#: The lock and the message in one step (lua/unique_put.lua); redis_sender queues it in pipelines.
UNIQUE_PUT = Script("unique_put", helpers=True)
_RELEASE_UNIQUE = Script("release_unique")
_RELEASE_SLOT = Script("release_slot", helpers=True)
_SWEEP = Script("sweep_limits", helpers=True)


def owned_key(header: Any, prefix: str) -> str | None:
    """The key a control header names, if it is one of conveyor's under ``prefix``; None otherwise.

    A header comes from a message, which anyone who can send one writes: its key is never used
    unless it is under its own prefix (a forged ``conveyor:dead`` is refused, not emptied).

    Example::

        owned_key({"key": "conveyor:limit:x.ReportJob:42", "to": 1}, LIMIT_PREFIX)  # the key
        owned_key({"key": "conveyor:scheduled"}, LIMIT_PREFIX)                     # None
    """
    key = header.get("key") if isinstance(header, dict) else None
    return key if isinstance(key, str) and key.startswith(prefix) and len(key) > len(prefix) else None


def check_unique_lock(lock: str, job_id: str) -> None:
    """Raise ``ConveyorError`` for a ``@unique`` lock outside ``conveyor:unique:`` (a send's forged header)."""
    if owned_key({"key": lock}, UNIQUE_PREFIX) is None:
        raise ConveyorError(
            f"refused to send job {job_id}: its conveyor_unique header names {lock!r}, not a key under {UNIQUE_PREFIX}"
        )


def refuse_reserved(queue: str) -> None:
    """Raise ``ConveyorError`` for a send to a key that is not a queue (``conveyor:paused``, ``_kombu…``)."""
    if queue.startswith(RESERVED_PREFIXES):
        raise ConveyorError(
            f"refused to send a message to {queue!r}: it is a key conveyor, kombu, redbeat or "
            f"Celery keep, not a queue ({', '.join(RESERVED_PREFIXES)}…)"
        )


def unique_put(client: Any, lock: str, ttl_ms: int, job_id: str, queue_key: str, wake: str, data: str) -> str | None:
    """Take the lock and push the message in one step; the holder's job id if the lock is taken."""
    check_unique_lock(lock, job_id)
    holder = UNIQUE_PUT(client, [lock, queue_key, wake], [job_id, ttl_ms, data, WAKE_CAP])
    return holder.decode() if isinstance(holder, bytes) else None


def release_unique(client: Any, header: Any, job_id: str) -> bool:
    """Release the unique lock named in a ``conveyor_unique`` header, if ``job_id`` holds it."""
    key = owned_key(header, UNIQUE_PREFIX)
    return key is not None and bool(_RELEASE_UNIQUE(client, [key], [job_id]))


def release_slot(client: Any, header: Any, job_id: str) -> int:
    """Free ``job_id``'s slot named in a ``conveyor_limit`` header; how many blocked jobs were released."""
    key = owned_key(header, LIMIT_PREFIX)
    if key is None:
        return 0
    to = header.get("to") if isinstance(header.get("to"), int) else 1
    return int(_RELEASE_SLOT(client, [key, key + ":blocked"], [job_id, to, time.time(), WAKE_PREFIX, WAKE_CAP]))


def sweep_limits(client: Any) -> int:
    """Free expired slots of every limit key in use; how many blocked jobs were released."""
    return int(_SWEEP(client, [LIMITS_KEY, LIMITS_TO_KEY], [time.time(), WAKE_PREFIX, WAKE_CAP]))


def limit_keys(client: Any, blocked_shown: int = 10) -> list[dict[str, Any]]:
    """Every limit key in use: what it limits, its size, holders (job id, seconds left) and blocked jobs.

    ``limits`` is the job class (or ``group``) and ``value`` the limit's key value, read from the
    key's name; ``blocked_jobs`` are the ids of the ``blocked_shown`` jobs waiting longest.
    """
    now, found = time.time(), []
    for key in sorted(k.decode() for k in client.smembers(LIMITS_KEY)):
        with client.pipeline(transaction=False) as pipe:
            pipe.hget(LIMITS_TO_KEY, key)
            pipe.zrange(key, 0, -1, withscores=True)
            pipe.llen(key + ":blocked")
            pipe.lrange(key + ":blocked", -blocked_shown, -1)  # RPOP releases from the right: the oldest
            to, holders, blocked, entries = pipe.execute()
        limits, _, value = key.removeprefix(LIMIT_PREFIX).partition(":")
        found.append(
            {
                "key": key,
                "limits": limits,
                "value": value,
                "to": int(to or 1),
                "blocked": int(blocked),
                "blocked_jobs": [job_id for job_id in map(_blocked_job_id, reversed(entries)) if job_id],
                "holders": [(job.decode(), max(0.0, float(expiry) - now)) for job, expiry in holders],
            }
        )
    return found


def _blocked_job_id(entry: bytes) -> str | None:
    # "<length of source> <source><message>" (helpers.lua's unblock reads the same); None if unreadable.
    length, _, rest = entry.partition(b" ")
    if not length.isdigit():
        return None
    try:
        message = json.loads(rest[int(length) :])
    except ValueError:
        return None
    headers = message.get("headers") if isinstance(message, dict) else None
    job_id = headers.get("id") if isinstance(headers, dict) else None
    return job_id if isinstance(job_id, str) else None


def throttle_keys(client: Any) -> list[dict[str, Any]]:
    """Every throttle window alive: its key, starts recorded and seconds until it expires."""
    found = []
    for key in sorted(k.decode() for k in client.scan_iter(THROTTLE_PREFIX + "*", count=1000)):
        with client.pipeline(transaction=False) as pipe:
            pipe.zcard(key)
            pipe.pttl(key)
            starts, ttl_ms = pipe.execute()
        found.append({"key": key, "starts": int(starts), "ttl_s": max(0, int(ttl_ms)) / 1000})
    return found
