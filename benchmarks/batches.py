"""Jobs in a batch against the same jobs outside one, side by side: enqueue, drain, Redis cost and memory.

    python -m conveyor.devserver --private -- python -m benchmarks.batches [--jobs 10000] [--rounds 3]

1. enqueue: ``perform_all_later`` of N no-op jobs inside ``Batch.jobs()`` (a registration script per chunk
   of 1,000, sent from a thread while the messages are built, then one pipeline per chunk) and outside any
   batch, interleaved, before the drains; the ratio is outside time / inside time (issue 31's target: >= 0.8).
2. drain: a start marker, N no-op jobs (in a batch with a ``finish`` callback, or not) and an end marker
   queued; one ``celery worker -c 2`` (prefork) starts; time from the start marker to the end marker;
   the ratio is outside time / inside time (target >= 0.9). Redis commands and Redis CPU per job are
   counted over the drain (``INFO commandstats``, ``INFO cpu``), and the finish callback's delay after
   the last job.
3. memory: the batch's two keys (``MEMORY USAGE``) once it finished, per job, before their TTL.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import time
from pathlib import Path

from benchmarks import bench_app
from benchmarks.workers import QUIET, bench_worker
from benchmarks.workers import wait_for as _wait_for

ROOT = Path(__file__).resolve().parents[1]


def _worker() -> subprocess.Popen[bytes]:
    return bench_worker("benchmarks.bench_app", "prefork", *QUIET, env={**os.environ, "BENCH_FETCH": "super"})


def enqueue(jobs: int, batched: bool) -> float:
    from conveyor import Batch, perform_all_later

    bench_app._redis.flushdb()
    pending = [bench_app.NoopJob(n) for n in range(jobs)]
    started = time.perf_counter()
    if batched:
        with Batch(description="bench").jobs():
            perform_all_later(pending)
    else:
        perform_all_later(pending)
    return time.perf_counter() - started


def _redis_counts() -> tuple[int, float]:
    info = bench_app._redis.info("commandstats")
    calls = sum(int(stats["calls"]) for stats in info.values() if isinstance(stats, dict))
    cpu = bench_app._redis.info("cpu")
    return calls, float(cpu["used_cpu_sys"]) + float(cpu["used_cpu_user"])


def drain(jobs: int, batched: bool) -> dict[str, float]:
    """Seconds from start to end marker; Redis commands and CPU µs per job; for a batch, the finish delay."""
    from conveyor import Batch, perform_all_later

    redis = bench_app._redis
    redis.flushdb()
    perform_all_later([bench_app.MarkJob("bench:start")])
    batch = None
    if batched:
        batch = Batch(description="bench").on("finish", bench_app.BatchMarkJob, "bench:finished")
        with batch.jobs():
            perform_all_later([bench_app.NoopJob(n) for n in range(jobs)])
    else:
        perform_all_later([bench_app.NoopJob(n) for n in range(jobs)])
    perform_all_later([bench_app.MarkJob("bench:end")])
    redis.config_resetstat()
    calls_before, cpu_before = _redis_counts()
    worker = _worker()
    try:
        _wait_for(lambda: redis.get("bench:end") is not None, "the drain")
        if batched:
            _wait_for(lambda: redis.get("bench:finished") is not None, "the finish callback")
    finally:
        worker.terminate()
        worker.wait(timeout=60)
    calls_after, cpu_after = _redis_counts()
    seconds = float(redis.get("bench:end")) - float(redis.get("bench:start"))  # type: ignore[arg-type]
    outcome = {
        "seconds": seconds,
        "commands": (calls_after - calls_before) / jobs,
        "cpu_us": (cpu_after - cpu_before) * 1e6 / jobs,
    }
    if batch is not None:
        from benchmarks.bench_app import app

        app.set_current()
        status = batch.status
        if status.succeeded != jobs or not status.finished:
            raise RuntimeError(f"the batch did not end as it should: {status}")
        outcome["finish_delay"] = float(redis.get("bench:finished")) - float(status.finished_at or 0)  # type: ignore[arg-type]
        key = f"conveyor:batch:{batch.id}"
        memory = int(redis.memory_usage(key) or 0) + int(redis.memory_usage(key + ":jobs") or 0)
        outcome["memory_per_job"] = memory / jobs
        outcome["ttl_days"] = int(redis.ttl(key + ":jobs")) / 86400
    return outcome


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    options = parser.parse_args()
    bench_app.app.set_current()
    enqueues: dict[bool, list[float]] = {True: [], False: []}
    drains: dict[bool, list[dict[str, float]]] = {True: [], False: []}
    # The enqueues first, away from the drains' worker processes starting and stopping; each interleaved.
    for round_ in range(options.rounds * 3):
        for batched in (True, False) if round_ % 2 == 0 else (False, True):
            enqueues[batched].append(enqueue(options.jobs, batched))
    for round_ in range(options.rounds):
        for batched in (True, False) if round_ % 2 == 0 else (False, True):
            drains[batched].append(drain(options.jobs, batched))

    def median(batched: bool, field: str) -> float:
        return statistics.median(run[field] for run in drains[batched])

    inside, outside = statistics.median(enqueues[True]), statistics.median(enqueues[False])
    drain_in, drain_out = median(True, "seconds"), median(False, "seconds")
    n = options.jobs
    print(
        f"## Batches ({n:,} no-op jobs; median of {options.rounds * 3} enqueues, "
        f"of {options.rounds} drains on prefork -c 2)\n"
    )
    print("| scenario | in a batch | outside a batch | ratio (outside time / batch time) |")
    print("| --- | ---: | ---: | ---: |")
    print(
        f"| enqueue (perform_all_later) | {inside:.3f} s ({n / inside:,.0f}/s) | {outside:.3f} s "
        f"({n / outside:,.0f}/s) | {outside / inside:.2f}x (target >= 0.8) |"
    )
    print(
        f"| drain | {drain_in:.3f} s ({n / drain_in:,.0f}/s) | {drain_out:.3f} s ({n / drain_out:,.0f}/s) "
        f"| {drain_out / drain_in:.2f}x (target >= 0.9) |"
    )
    print(
        f"| Redis commands per job (drain) | {median(True, 'commands'):.2f} | {median(False, 'commands'):.2f} | "
        f"+{median(True, 'commands') - median(False, 'commands'):.2f} |"
    )
    print(
        f"| Redis CPU per job (drain) | {median(True, 'cpu_us'):.1f} µs | {median(False, 'cpu_us'):.1f} µs | "
        f"+{median(True, 'cpu_us') - median(False, 'cpu_us'):.1f} µs |"
    )
    print(
        f"\nAfter the batch finished: {median(True, 'memory_per_job'):.0f} bytes of Redis memory per job "
        f"(its members hash and its own hash), for {median(True, 'ttl_days'):.0f} days (their TTL); the finish "
        f"callback ran {median(True, 'finish_delay') * 1000:.1f} ms after the last job's end was recorded."
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
