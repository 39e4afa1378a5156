"""Drain of the service as shipped vs plain Celery with Celery's own defaults, side by side.

    python -m conveyor.devserver --private -- python -m benchmarks.shipped [--rounds 3] [--jobs 3000]
    python -m conveyor.devserver --private -- python -m benchmarks.shipped --breakdown

Each run: a start marker, N no-op jobs and an end marker queued; one ``celery worker -c 2``
(prefork or threads) of that side's app (``benchmarks.shipped_app``) starts; the time from the
start marker to the end marker is the drain. ``--breakdown`` drains the conveyor side with one
shipped setting changed at a time (``BENCH_OVERRIDES``), to show what each costs.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import redis

from benchmarks.workers import bench_worker

ROOT = Path(__file__).resolve().parents[1]

#: Shipped settings changed one at a time by --breakdown (each a BENCH_OVERRIDES value).
BREAKDOWN: dict[str, dict[str, Any]] = {
    "as shipped": {},
    "task events off": {"worker_send_task_events": False},
    "no result backend": {"result_backend": None, "task_ignore_result": True},
    "prefetch 4": {"worker_prefetch_multiplier": 4},
    "early ack": {"task_acks_late": False},
}


def drain(side: str, pool: str, jobs: int, overrides: dict[str, Any] | None = None) -> float:
    """Seconds from the start marker to the end marker, one worker -c 2 of ``side``."""
    env = {**os.environ, "BENCH_SIDE": side, "BENCH_OVERRIDES": json.dumps(overrides or {})}
    client = redis.Redis.from_url(os.environ["REDIS_URL"])
    client.flushdb()
    fill = "import sys\nfrom benchmarks import shipped_app as s\ns.fill(int(sys.argv[1]))\n"
    subprocess.run([sys.executable, "-c", fill, str(jobs)], cwd=ROOT, env=env, check=True)
    worker = bench_worker("benchmarks.shipped_app", pool, env=env)
    try:
        deadline = time.monotonic() + 600
        while client.get("bench:end") is None:  # the marker is the last job: when it ran, all ran
            if time.monotonic() > deadline:
                raise RuntimeError(f"{side} {pool}: the drain did not finish in 600 s")
            time.sleep(0.05)
    finally:
        worker.terminate()
        worker.wait(timeout=60)
    return float(client.get("bench:end")) - float(client.get("bench:start"))  # type: ignore[arg-type]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=3000)
    parser.add_argument("--pools", default="prefork,threads")
    parser.add_argument("--breakdown", action="store_true")
    options = parser.parse_args()
    runs: list[tuple[str, str, str, dict[str, Any]]] = []
    for pool in options.pools.split(","):
        runs.append((pool, "plain", "plain", {}))
        if options.breakdown:
            runs += [(pool, name, "conveyor", overrides) for name, overrides in BREAKDOWN.items()]
        else:
            runs.append((pool, "as shipped", "conveyor", {}))
    times: dict[tuple[str, str], list[float]] = {}
    for round_number in range(options.rounds):
        for pool, name, side, overrides in runs if round_number % 2 == 0 else reversed(runs):
            times.setdefault((pool, name), []).append(drain(side, pool, options.jobs, overrides))
    for (pool, name), values in times.items():
        median = statistics.median(values)
        base = statistics.median(times[(pool, "plain")])
        print(f"{pool:8} {name:20} {options.jobs / median:8,.0f}/s  speed {base / median:.3f} of plain")
    return 0


if __name__ == "__main__":
    sys.exit(main())
