"""Where the fault suite's jobs record what they did: a Redis that is not the one the faults hit.

``RELIABILITY_RECORDS_URL`` names it (the suite sets it for the worker processes it starts).
"""

from __future__ import annotations

import os

import redis

RECORDS_URL = os.environ.get("RELIABILITY_RECORDS_URL", "redis://127.0.0.1:6379/7")
_records: dict[int, redis.Redis] = {}


def records() -> redis.Redis:
    """A client on the records Redis, one per process (pool children are forked)."""
    pid = os.getpid()
    if pid not in _records:
        _records[pid] = redis.Redis.from_url(RECORDS_URL)
    return _records[pid]
