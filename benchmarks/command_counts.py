"""Redis commands per job: conveyor as a service ships it vs plain Celery with Celery's defaults.

    python -m conveyor.devserver --private -- python -m benchmarks.command_counts [--jobs 2000]

For each side (``benchmarks.shipped_app``): N no-op jobs enqueued one by one, then one
``celery worker -c 2`` (prefork) drains them and an end marker. Redis' own ``INFO commandstats``
(reset before each phase) gives the calls per command; divided by N they are the commands per job
of that phase (the drain's include the worker's idle traffic while it runs, small next to N jobs).
Prints a table per side and phase: commands per job in total and each command's share. Redis counts
the commands a Lua script runs too (conveyor's claim script's RPOPs, for instance), so these are
commands Redis executed, not round trips.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import redis

from benchmarks.workers import bench_worker

ROOT = Path(__file__).resolve().parents[1]


def _stats(client: redis.Redis) -> dict[str, int]:
    info = client.info("commandstats")
    return {name.removeprefix("cmdstat_"): int(values["calls"]) for name, values in info.items()}


def measure(side: str, jobs: int) -> dict[str, dict[str, int]]:
    """Command calls of the enqueue and the drain phases of one side."""
    env = {**os.environ, "BENCH_SIDE": side}
    client = redis.Redis.from_url(os.environ["REDIS_URL"])
    client.flushdb()
    script = (
        "import sys\nfrom benchmarks import shipped_app as s\n"
        "for i in range(int(sys.argv[1])): s.enqueue_noop(i)\n"
        "s.enqueue_mark('bench:end')\n"
    )
    client.config_resetstat()
    subprocess.run([sys.executable, "-c", script, str(jobs)], cwd=ROOT, env=env, check=True)
    enqueue = _stats(client)
    client.config_resetstat()
    worker = bench_worker("benchmarks.shipped_app", "prefork", "--without-mingle", "--without-gossip", env=env)
    try:
        deadline = time.monotonic() + 300
        while client.get("bench:end") is None:  # the marker is the last job: it ran, all ran
            if time.monotonic() > deadline:
                raise RuntimeError(f"{side}: the drain did not finish in 300 s")
            time.sleep(0.05)
        drain = _stats(client)
    finally:
        worker.terminate()
        worker.wait(timeout=60)
    return {"enqueue": enqueue, "drain": drain}


def report(side: str, phases: dict[str, dict[str, int]], jobs: int) -> list[str]:
    """One row per phase: commands per job in total and every command of at least 0.05 per job."""
    lines = []
    for phase, calls in phases.items():
        calls = {name: count for name, count in calls.items() if name not in ("config|resetstat", "config", "info")}
        total = sum(calls.values()) / jobs
        top = [(name, count / jobs) for name, count in sorted(calls.items(), key=lambda item: -item[1])]
        shown = ", ".join(f"{name} {per_job:.2f}" for name, per_job in top if per_job >= 0.05)
        lines.append(f"| {side} | {phase} | {total:.2f} | {shown} |")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2000, help="no-op jobs per side")
    options = parser.parse_args()
    rows = ["| side | phase | commands per job | commands of at least 0.05 per job |", "|---|---|---:|---|"]
    for side in ("conveyor", "plain"):
        rows += report(side, measure(side, options.jobs), options.jobs)
    print(f"Redis commands per job, {options.jobs} no-op jobs, one worker -c 2 prefork")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
