"""``async def perform`` against a plain ``def perform``, side by side, and the loop lag of the async enqueue.

    python -m conveyor.devserver --private -- python -m benchmarks.async_jobs [--jobs 1000] [--rounds 3]

1. drain: a start marker, N no-op jobs (``AsyncNoopJob`` or ``NoopJob``) and an end marker queued;
   one ``celery worker -c 2`` (prefork) starts; time from the start marker to the end marker,
   interleaved (async, sync, sync, async …); the ratio is sync time / async time (≥ 1: as fast).
2. I/O: 200 jobs that each await 1 s, on one process (``-P threads -c 200``): time from the
   enqueue to the last end, and jobs per second per process.
3. loop lag: an event loop that ticks every millisecond while it enqueues 1,000 jobs, with
   ``await aperform_later`` (the send in a thread) and with ``perform_later`` called from the loop
   (the send blocks it); the p50, p99 and max of how late the ticks were.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from benchmarks import bench_app
from benchmarks.workers import QUIET
from benchmarks.workers import wait_for as _wait_for

ROOT = Path(__file__).resolve().parents[1]


def _worker(pool: str, concurrency: int) -> subprocess.Popen[bytes]:
    argv = [sys.executable, "-m", "celery", "-A", "benchmarks.bench_app", "worker", "-c", str(concurrency)]
    return subprocess.Popen(
        [*argv, "-P", pool, "--loglevel=WARNING", *QUIET],
        cwd=ROOT,
        env={**os.environ, "BENCH_FETCH": "super"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def drain(jobs: int, asynchronous: bool) -> float:
    from conveyor import perform_all_later

    redis = bench_app._redis
    redis.flushdb()
    job = bench_app.AsyncNoopJob if asynchronous else bench_app.NoopJob
    perform_all_later([bench_app.MarkJob("bench:start"), *(job(n) for n in range(jobs))])
    perform_all_later([bench_app.MarkJob("bench:end")])
    worker = _worker("prefork", 2)
    try:
        _wait_for(lambda: redis.get("bench:end") is not None, "the drain")
    finally:
        worker.terminate()
        worker.wait(timeout=60)
    return float(redis.get("bench:end")) - float(redis.get("bench:start"))  # type: ignore[arg-type]


def awaiting_io(jobs: int = 200, seconds: float = 1.0) -> float:
    from conveyor import perform_all_later

    redis = bench_app._redis
    redis.flushdb()
    worker = _worker("threads", jobs)
    try:
        bench_app.AsyncIoJob.perform_later(0.0)  # the worker is up once this one ended
        _wait_for(lambda: redis.llen("bench:io-ended") >= 1, "the worker's start", 120)
        redis.delete("bench:io-ended")
        sent = time.time()
        perform_all_later([bench_app.AsyncIoJob(seconds) for _ in range(jobs)])
        _wait_for(lambda: redis.llen("bench:io-ended") >= jobs, "the I/O jobs")
    finally:
        worker.terminate()
        worker.wait(timeout=60)
    return max(float(value) for value in redis.lrange("bench:io-ended", 0, -1)) - sent


def loop_lag(jobs: int, asynchronous: bool) -> tuple[float, float, float]:
    """(p50, p99, max) ms by which a 1 ms ticker was late while ``jobs`` jobs were enqueued from the loop."""

    async def main() -> list[float]:
        lags: list[float] = []
        done = asyncio.Event()

        async def ticker() -> None:
            while not done.is_set():
                before = time.perf_counter()
                await asyncio.sleep(0.001)
                lags.append((time.perf_counter() - before - 0.001) * 1000)

        ticking = asyncio.create_task(ticker())
        await asyncio.sleep(0.01)
        for n in range(jobs):
            if asynchronous:
                await bench_app.NoopJob.aperform_later(n)
            else:
                bench_app.NoopJob.perform_later(n)  # blocks the loop for the send
                await asyncio.sleep(0)
        done.set()
        await ticking
        return lags

    bench_app._redis.flushdb()
    lags = sorted(asyncio.run(main()))
    return statistics.median(lags), lags[min(len(lags) - 1, int(len(lags) * 0.99))], lags[-1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    options = parser.parse_args()
    bench_app.app.set_current()
    times: dict[bool, list[float]] = {True: [], False: []}
    for round_ in range(options.rounds):
        for asynchronous in (True, False) if round_ % 2 == 0 else (False, True):
            times[asynchronous].append(drain(options.jobs, asynchronous))
    async_s, sync_s = statistics.median(times[True]), statistics.median(times[False])
    io = awaiting_io()
    lag_async, lag_sync = loop_lag(1000, True), loop_lag(1000, False)
    print(f"## async def perform ({options.jobs:,} no-op jobs, prefork -c 2, median of {options.rounds})\n")
    print("| scenario | async def perform | def perform | ratio (sync time / async time) |")
    print("| --- | ---: | ---: | ---: |")
    print(
        f"| drain {options.jobs:,} no-op jobs | {async_s:.3f} s ({options.jobs / async_s:,.0f}/s) "
        f"| {sync_s:.3f} s ({options.jobs / sync_s:,.0f}/s) | {sync_s / async_s:.2f}x |"
    )
    print(f"\n200 jobs awaiting 1 s each on one process (-P threads -c 200): {io:.2f} s, {200 / io:,.0f} jobs/s\n")
    print("| enqueue 1,000 jobs from a running loop | ticker lag p50 | p99 | max |")
    print("| --- | ---: | ---: | ---: |")
    for name, (p50, p99, worst) in (("await aperform_later", lag_async), ("perform_later (blocking)", lag_sync)):
        print(f"| {name} | {p50:.2f} ms | {p99:.2f} ms | {worst:.2f} ms |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
