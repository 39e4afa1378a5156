"""Redis' cost: conveyor as a service ships it vs plain Celery with Celery's defaults.

    python -m conveyor.devserver --private -- python -m benchmarks.command_counts [--jobs 2000] [--idle-s 30]

For each side (``benchmarks.shipped_app``): N no-op jobs enqueued one by one, then one
``celery worker -c 2`` (prefork) drains them and an end marker, then stays idle for ``--idle-s``.
Redis' own ``INFO commandstats`` (reset before each phase) gives the calls per command: divided by
N, the commands per job of the enqueue and the drain (the drain's include the worker's idle traffic
while it runs, small next to N jobs); per minute, the idle worker's. ``INFO cpu`` (Redis' own
``used_cpu_sys`` + ``used_cpu_user``, read before and after) gives Redis' CPU per drained job and per
idle minute. Redis counts the commands a Lua script runs too (conveyor's claim script's LMPOP, for
instance), so these are commands Redis executed, not round trips.

A fleet shares one Redis: its CPU per job, and per idle worker, is the fleet's ceiling.
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


#: What the measurement itself sends, left out of the counts.
_OWN = ("config|resetstat", "config", "info", "get")


def _stats(client: redis.Redis) -> dict[str, int]:
    info = client.info("commandstats")
    return {name.removeprefix("cmdstat_"): int(values["calls"]) for name, values in info.items()}


def _cpu_s(client: redis.Redis) -> float:
    info = client.info("cpu")
    return float(info["used_cpu_sys"]) + float(info["used_cpu_user"])


def measure(side: str, jobs: int, idle_s: float = 30.0) -> dict[str, dict[str, float]]:
    """Command calls of the enqueue, drain and idle phases of one side, and Redis' CPU seconds (``cpu``)."""
    env = {**os.environ, "BENCH_SIDE": side}
    client = redis.Redis.from_url(os.environ["REDIS_URL"])
    client.flushdb()
    script = (
        "import sys\nfrom benchmarks import shipped_app as s\n"
        "for i in range(int(sys.argv[1])): s.enqueue_noop(i)\n"
        "s.enqueue_mark('bench:end')\n"
    )
    client.config_resetstat()
    cpu = _cpu_s(client)
    subprocess.run([sys.executable, "-c", script, str(jobs)], cwd=ROOT, env=env, check=True)
    enqueue = {**_stats(client), "cpu": _cpu_s(client) - cpu}
    client.config_resetstat()
    cpu = _cpu_s(client)
    worker = bench_worker("benchmarks.shipped_app", "prefork", "--without-mingle", "--without-gossip", env=env)
    try:
        deadline = time.monotonic() + 300
        while client.get("bench:end") is None:  # the marker is the last job: it ran, all ran
            if time.monotonic() > deadline:
                raise RuntimeError(f"{side}: the drain did not finish in 300 s")
            time.sleep(0.05)
        drain = {**_stats(client), "cpu": _cpu_s(client) - cpu}
        time.sleep(2)  # the drain's tail (last acknowledgements, event batches) settles
        client.config_resetstat()
        cpu = _cpu_s(client)
        time.sleep(idle_s)  # an idle worker: what it costs Redis per unit of time
        idle = {**_stats(client), "cpu": _cpu_s(client) - cpu, "seconds": idle_s}
    finally:
        worker.terminate()
        worker.wait(timeout=60)
    return {"enqueue": enqueue, "drain": drain, "idle": idle}


def commands(calls: dict[str, float]) -> float:
    """The commands Redis ran in a phase (the measurement's own left out)."""
    return sum(count for name, count in calls.items() if name not in (*_OWN, "cpu", "seconds"))


def idle_per_minute(calls: dict[str, float]) -> tuple[float, float]:
    """An idle phase's commands and Redis CPU milliseconds, per worker-minute."""
    per_minute = 60.0 / calls["seconds"]
    return commands(calls) * per_minute, calls["cpu"] * 1000 * per_minute


def report(side: str, phases: dict[str, dict[str, float]], jobs: int) -> list[str]:
    """One row per phase: commands and Redis CPU per job (per minute when idle), and every command of at
    least 0.05 per job (or 1 per minute)."""
    lines = []
    for phase, calls in phases.items():
        shown_calls = {name: count for name, count in calls.items() if name not in (*_OWN, "cpu", "seconds")}
        if phase == "idle":
            scale, unit, floor = 60.0 / calls["seconds"], "per worker-minute", 1.0
        else:
            scale, unit, floor = 1.0 / jobs, "per job", 0.05
        top = [(name, count * scale) for name, count in sorted(shown_calls.items(), key=lambda item: -item[1])]
        shown = ", ".join(f"{name} {value:.2f}" for name, value in top if value >= floor)
        cpu_us = calls["cpu"] * 1e6 * scale
        lines.append(f"| {side} | {phase} | {commands(calls) * scale:.2f} {unit} | {cpu_us:,.0f} us | {shown} |")
    return lines


HEADER = [
    "| side | phase | commands | Redis CPU | commands of at least 0.05 per job (1 per minute idle) |",
    "|---|---|---:|---:|---|",
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2000, help="no-op jobs per side")
    parser.add_argument("--idle-s", type=float, default=30.0, help="seconds the worker is watched idle")
    options = parser.parse_args()
    rows = list(HEADER)
    for side in ("conveyor", "plain"):
        rows += report(side, measure(side, options.jobs, options.idle_s), options.jobs)
    print(f"Redis commands and CPU, {options.jobs} no-op jobs, one worker -c 2 prefork, then idle {options.idle_s:g} s")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
