"""Start delay of a high-priority job while a worker drains a 10,000-job low-priority backlog.

For each queue configuration (strict and weighted), on the Redis at
``REDIS_URL`` (``make bench`` gives it a Redis of its own): enqueue 10,000
``BacklogJob`` (2 ms of work each) on ``low``, start ``celery worker -c 2``
(prefork, prefetch 1, acks late), then 100 times: ``UrgentJob.perform_later()``
on ``high`` and wait for it to report the time from enqueue to its start.
Prints p50, p99 and max per configuration, and the backlog left at the end
(it must not have drained, or the worker was not busy).

    make bench-priority
    python -m conveyor.devserver --private -- python -m benchmarks.priority_latency
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from benchmarks.workers import QUIET, bench_worker

ROOT = Path(__file__).resolve().parents[1]
BACKLOG = 10_000
SAMPLES = 100
WORK_MS = 2.0
CONFIGS = {
    "strict   [high, default, low]": ["high", "default", "low"],
    "weighted [[high, 2], [default, 1], [low, 1]]": [["high", 2], ["default", 1], ["low", 1]],
}


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def measure_one() -> None:
    """Runs in a child process whose BENCH_QUEUES is set: prints {"latencies": [...], "left": n}."""
    from benchmarks.bench_app import BacklogJob, UrgentJob, _redis
    from conveyor import perform_all_later

    backlog_key = "low\x06\x165"  # queue "low", priority 5 (the default)
    _redis.flushdb()
    perform_all_later([BacklogJob(WORK_MS) for _ in range(BACKLOG)])
    worker = bench_worker("benchmarks.bench_app", "prefork", *QUIET)
    try:
        # Wait until the worker is draining (a blocking wait on its first jobs, not a sleep).
        _redis.delete("bench:latencies")
        UrgentJob.perform_later(-1)
        if _redis.brpop("bench:latencies", timeout=60) is None:
            raise RuntimeError("the worker did not start within 60 s")
        latencies = []
        for sample in range(SAMPLES):
            UrgentJob.perform_later(sample)
            reply = _redis.brpop("bench:latencies", timeout=60)
            if reply is None:
                raise RuntimeError(f"sample {sample} did not run within 60 s")
            latencies.append(json.loads(reply[1])[1])
        left = _redis.llen(backlog_key)
    finally:
        worker.terminate()
        worker.wait(timeout=60)
    print(json.dumps({"latencies": latencies, "left": left}))


def main() -> int:
    print(
        f"priority latency: backlog {BACKLOG} x {WORK_MS} ms jobs on 'low', celery worker -c 2 (prefork), "
        f"{SAMPLES} samples of an UrgentJob on 'high'"
    )
    print(f"{'configuration':46} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'backlog left':>13}")
    for label, queues in CONFIGS.items():
        env = {**os.environ, "BENCH_QUEUES": json.dumps(queues)}
        result = subprocess.run(
            [sys.executable, "-m", "benchmarks.priority_latency", "--one"],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
        data = json.loads(result.stdout.strip().splitlines()[-1])
        latencies_ms = [value * 1000 for value in data["latencies"]]
        print(
            f"{label:46} {percentile(latencies_ms, 0.5):8.1f} {percentile(latencies_ms, 0.99):8.1f} "
            f"{max(latencies_ms):8.1f} {data['left']:13d}"
        )
    return 0


if __name__ == "__main__":
    if sys.argv[1:] == ["--one"]:
        measure_one()
        sys.exit(0)
    sys.exit(main())
