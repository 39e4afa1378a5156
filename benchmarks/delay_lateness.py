"""How late a delayed job starts: Celery ETA message vs conveyor's scheduled set.

Why waits of up to ``conveyor_scheduled_threshold`` (5 s) stay Celery ETA messages:
an ETA message sits in a worker, which starts it on its own timer; the scheduled set
is polled (``conveyor_scheduled_poll_interval``, 1 s ±50%), so a job can start up to
one poll interval late. On the Redis at ``REDIS_URL`` (``make bench-delay`` gives it
one of its own), with one ``celery worker -c 2``: 50 jobs with ``set(wait=6)`` through
each path (the ETA path forced by a threshold above the wait), start minus due time.

    make bench-delay
"""

from __future__ import annotations

import json
import time

from benchmarks.workers import QUIET, bench_worker

JOBS = 50
WAIT_S = 6.0


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def main() -> None:
    from benchmarks.bench_app import LatenessJob, _redis, app
    from conveyor.bootstrap import forget

    _redis.flushdb()
    worker = bench_worker("benchmarks.bench_app", "prefork", *QUIET)
    try:
        for path, threshold in (("celery eta", WAIT_S + 1), ("scheduled set", 5.0)):
            app.conf.conveyor_scheduled_threshold = threshold
            forget(app)
            for _ in range(JOBS):
                LatenessJob.set(wait=WAIT_S).perform_later(path)
                time.sleep(0.02)  # spread the due times over one second, as real traffic would
        results: dict[str, list[float]] = {"celery eta": [], "scheduled set": []}
        for _ in range(2 * JOBS):
            reply = _redis.brpop("bench:lateness", timeout=60)
            if reply is None:
                raise RuntimeError("a delayed job did not run within 60 s")
            path, late = json.loads(reply[1])
            results[path].append(late * 1000)
    finally:
        worker.terminate()
        worker.wait(timeout=30)
    print(f"Lateness of {JOBS} jobs with set(wait={WAIT_S:g}) (start - due, ms), one worker -c 2:")
    for path, values in results.items():
        print(
            f"  {path:14} p50 {percentile(values, 0.5):7.1f}  p99 {percentile(values, 0.99):7.1f}"
            f"  max {max(values):7.1f}"
        )


if __name__ == "__main__":
    main()
