"""Per job class metrics in Redis: processed and failed counts and execution times, over a day.

Each worker process counts in memory and a daemon thread flushes every FLUSH_INTERVAL_S in one
pipeline, so a job pays no Redis round trip for its metrics (a process killed loses at most
the last interval's counts). Counts go into five-minute buckets, one hash per bucket
(``conveyor:metrics:<bucket start>``: ``<job class>|p`` processed, ``|f`` failed, ``|h<n>``
executions whose time fell in histogram bucket ``n``), each expiring after a day.

**Memory bound**: at most 288 live hashes (a day of five-minute buckets), each with at most
``2 + len(HISTOGRAM_BOUNDS_S) + 1`` = 23 fields per job class that ran in it: with 50 job
classes all running every five minutes, 331,200 small fields (about 25 MB); a typical service
uses a small fraction of that, as only the histogram buckets hit are stored.

Percentiles are read from the histogram (upper bound of the bucket holding the percentile), so
they are exact to the bucket: 1, 2, 5 steps per decade from 1 ms to 1 h.

Example::

    record("ReportGenerationJob", 0.84, failed=False)      # done by conveyor.jobs.execution
    summary(client, now)["ReportGenerationJob"]["hour"]     # {"processed": 12, "failed": 1, "p50": 1.0, ...}
"""

from __future__ import annotations

import bisect
import logging
import os
import threading
import time
from collections import Counter
from typing import Any

__all__ = ["BUCKET_S", "HISTOGRAM_BOUNDS_S", "flush", "record", "series", "summary"]

logger = logging.getLogger("conveyor.broker.views.metrics")

PREFIX = "conveyor:metrics:"
#: Width of a bucket (s) and how long buckets are kept (s).
BUCKET_S = 300
KEEP_S = 24 * 3600
FLUSH_INTERVAL_S = 5.0
#: Upper bounds (s) of the execution-time histogram; one more bucket holds everything slower.
HISTOGRAM_BOUNDS_S = [m * 10.0**e for e in range(-3, 3) for m in (1, 2, 5)] + [1000.0, 3600.0]

_pending: Counter[tuple[int, str]] = Counter()
_lock = threading.Lock()
_flusher: dict[int, threading.Thread] = {}  # per process: pool children are forked
_client_factory: Any = None


def configure(client_factory: Any) -> None:
    """Where flushes go: a callable returning a Redis client (set once per worker process)."""
    global _client_factory
    _client_factory = client_factory


def record(job_class: str, runtime_s: float, failed: bool, now: float | None = None) -> None:
    """Count one execution of ``job_class`` (in memory; flushed by this process's thread)."""
    bucket = int((time.time() if now is None else now) // BUCKET_S * BUCKET_S)
    slot = bisect.bisect_left(HISTOGRAM_BOUNDS_S, runtime_s)
    with _lock:
        _pending[(bucket, f"{job_class}|{'f' if failed else 'p'}")] += 1
        _pending[(bucket, f"{job_class}|h{slot}")] += 1
    if os.getpid() not in _flusher and _client_factory is not None:
        _start_flusher()


def _start_flusher() -> None:
    thread = threading.Thread(target=_flush_forever, name="conveyor-metrics", daemon=True)
    _flusher[os.getpid()] = thread
    thread.start()


def _flush_forever() -> None:
    client = _client_factory()
    while True:
        time.sleep(FLUSH_INTERVAL_S)
        try:
            flush(client)
        except Exception as exc:  # Redis away: the counts wait in memory for the next flush
            logger.warning("conveyor: could not write job metrics: %s: %s", type(exc).__name__, exc)


def flush(client: Any) -> int:
    """Write the counts gathered so far in one pipeline; how many fields changed."""
    with _lock:
        taken = dict(_pending)
        _pending.clear()
    if not taken:
        return 0
    try:
        with client.pipeline(transaction=False) as pipe:
            for (bucket, field), count in taken.items():
                pipe.hincrby(f"{PREFIX}{bucket}", field, count)
            for bucket in {bucket for bucket, _ in taken}:
                pipe.expireat(f"{PREFIX}{bucket}", bucket + KEEP_S)
            pipe.execute()
    except Exception:
        with _lock:  # put them back: counted once, whenever Redis answers
            _pending.update(taken)
        raise
    return len(taken)


def _buckets(client: Any, since: float, now: float) -> list[tuple[int, dict[str, int]]]:
    starts = list(range(int(since // BUCKET_S * BUCKET_S), int(now) + 1, BUCKET_S))
    with client.pipeline(transaction=False) as pipe:
        for start in starts:
            pipe.hgetall(f"{PREFIX}{start}")
        replies = pipe.execute()
    # A field that is not a count (written by something else) is skipped, never a failed page.
    return [
        (start, {k.decode(errors="replace"): int(v) for k, v in reply.items() if v.lstrip(b"-").isdigit()})
        for start, reply in zip(starts, replies, strict=True)
    ]


def summary(client: Any, now: float | None = None) -> dict[str, dict[str, dict[str, float | int | None]]]:
    """Per job class, for the last hour and day: processed, failed, p50/p95/p99 execution time (s)."""
    now = time.time() if now is None else now
    day = _buckets(client, now - KEEP_S + BUCKET_S, now)
    result: dict[str, dict[str, dict[str, float | int | None]]] = {}
    for window, since in (("hour", now - 3600), ("day", now - KEEP_S)):
        totals: dict[str, Counter[str]] = {}
        for start, fields in day:
            if start + BUCKET_S <= since:
                continue
            for field, count in fields.items():
                job_class, _, kind = field.rpartition("|")
                totals.setdefault(job_class, Counter())[kind] += count
        for job_class, counts in totals.items():
            histogram = [counts.get(f"h{n}", 0) for n in range(len(HISTOGRAM_BOUNDS_S) + 1)]
            result.setdefault(job_class, {})[window] = {
                "processed": counts.get("p", 0),
                "failed": counts.get("f", 0),
                **{f"p{q}": _percentile(histogram, q / 100) for q in (50, 95, 99)},
            }
    return result


def series(client: Any, now: float | None = None, hours: int = 24) -> list[tuple[int, int, int]]:
    """(bucket start, processed, failed) of every job class, per bucket, oldest first (the chart)."""
    now = time.time() if now is None else now
    rows = []
    for start, fields in _buckets(client, now - hours * 3600 + BUCKET_S, now):
        processed = sum(v for k, v in fields.items() if k.endswith("|p"))
        failed = sum(v for k, v in fields.items() if k.endswith("|f"))
        rows.append((start, processed, failed))
    return rows


def _percentile(histogram: list[int], q: float) -> float | None:
    total = sum(histogram)
    if not total:
        return None
    rank, seen = q * total, 0
    for n, count in enumerate(histogram):
        seen += count
        if seen >= rank:
            return HISTOGRAM_BOUNDS_S[n] if n < len(HISTOGRAM_BOUNDS_S) else float("inf")
    return float("inf")
