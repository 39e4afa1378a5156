"""Running a job under its controls: releasing its ``@unique`` lock and its concurrency slot.

The claim script took the slot before the worker saw the message (``conveyor.broker.fetch.claim``);
here, when the execution ends, however it ends, the slot is freed and the next blocked job of
the key goes back to its queue. The unique lock is released when the job starts
(``until="start"``), or when it succeeds, is discarded or fails for good (it then goes to the
dead set); a retry keeps it.

Example::

    run_controlled(job, task.request, job._execute)     # conveyor.jobs.execution does this
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import Any

from celery.exceptions import Retry

from conveyor.broker.controls import LIMIT_HEADER, UNIQUE_HEADER, release_slot, release_unique
from conveyor.settings import redis_client

__all__ = ["release_controls", "run_controlled"]

logger = logging.getLogger("conveyor.jobs.controlled_run")

# One client per process and app: a limited job ends with one round trip, not a new connection.
_clients: dict[tuple[int, int], Any] = {}


def _client(app: Any) -> Any:
    key = (os.getpid(), id(app))
    client = _clients.get(key)
    if client is None:
        client = _clients[key] = redis_client(app)
    return client


def run_controlled(job: Any, request: Any, execute: Callable[[], Any]) -> Any:
    """``execute()``, with the job's lock and slot released as its outcome requires."""
    app, job_id = job._task.app, str(request.id)
    uniq, limit = getattr(request, UNIQUE_HEADER, None), getattr(request, LIMIT_HEADER, None)
    if isinstance(uniq, dict) and uniq.get("until") == "start":
        _release(app, "unique lock", release_unique, uniq, job_id)
        uniq = None
    try:
        result = execute()
    except Retry:
        uniq = None  # the job runs again: it keeps its lock
        raise
    finally:
        if uniq is not None:
            _release(app, "unique lock", release_unique, uniq, job_id)
        if limit is not None:
            _release(app, "concurrency slot", release_slot, limit, job_id)
    return result


def release_controls(app: Any, headers: Any, job_id: str) -> None:
    """Release what a job given up on outside its execution holds (its worker died too often)."""
    if isinstance(headers, dict):
        _release(app, "unique lock", release_unique, headers.get(UNIQUE_HEADER), job_id)
        _release(app, "concurrency slot", release_slot, headers.get(LIMIT_HEADER), job_id)


def _release(app: Any, what: str, release: Callable[[Any, Any, str], Any], header: Any, job_id: str) -> None:
    if header is None:
        return
    try:
        release(_client(app), header, job_id)
    except Exception as exc:  # Redis away: the lock's TTL or the slot's duration frees it
        logger.warning("conveyor: could not release the %s of job %s: %s: %s", what, job_id, type(exc).__name__, exc)
