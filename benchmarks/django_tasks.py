"""``django.tasks`` on conveyor's backend next to conveyor's own jobs: enqueue, drain, Redis commands (issue 29).

    python -m conveyor.devserver --private -- python -m benchmarks.django_tasks [--jobs 2000] [--drain 5000]

The project is ``benchmarks/django_bench`` (``benchproj``: conveyor's defaults, no result
backend, SQLite in memory; ``benchapp``: a no-op ``@task`` and its twin ``NoopJob``). Each round,
interleaved (A B, then B A), on a flushed Redis:

- enqueue: N ``noop.enqueue(i)`` against N ``NoopJob.perform_later(i)``, one producer;
- drain: a start marker, D no-ops and an end marker queued, then one ``celery -A benchproj worker
  -c 2`` (prefork) starts; the time from the start marker's run to the end marker's.

Then the Redis commands (and round trips) each side sends per enqueue and per run. Ratios are
rates: the ``@task`` side's jobs per second over the job side's (the targets: enqueue >= 0.9,
drain >= 0.95).
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis

from benchmarks.workers import QUIET

PROJECT = Path(__file__).resolve().parent / "django_bench"
TARGETS = {"enqueue": 0.9, "drain": 0.95}


def _setup() -> Any:
    """Django set up in this process from the bench project; its Celery app, current."""
    import django

    sys.path.insert(0, str(PROJECT))
    os.environ["DJANGO_SETTINGS_MODULE"] = "benchproj.settings"
    django.setup()
    from benchproj.celery import app  # type: ignore[import-not-found]  # on sys.path from here on

    app.set_current()
    return app


def _timed(action: Callable[[], None]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def enqueue_tasks(n: int) -> None:
    from benchapp.tasks import noop  # type: ignore[import-not-found]

    for i in range(n):
        noop.enqueue(i)


def enqueue_jobs(n: int) -> None:
    from benchapp.jobs import NoopJob  # type: ignore[import-not-found]

    for i in range(n):
        NoopJob.perform_later(i)


def drain(client: redis.Redis, side: str, n: int) -> float:
    """Seconds from the start marker's run to the end marker's, ``n`` no-ops between, on a fresh worker."""
    from benchapp.jobs import MarkJob, NoopJob  # type: ignore[import-not-found]
    from benchapp.tasks import mark  # type: ignore[import-not-found]

    from conveyor import perform_all_later

    client.flushdb()
    if side == "@task":
        mark.enqueue("bench:start")
        enqueue_tasks(n)
        mark.enqueue("bench:end")
    else:
        perform_all_later([MarkJob("bench:start"), *(NoopJob(i) for i in range(n))])
        MarkJob.perform_later("bench:end")
    argv = [sys.executable, "-m", "celery", "-A", "benchproj", "worker", "-c", "2", "-P", "prefork", "-Q", "default"]
    worker = subprocess.Popen(
        [*argv, "--loglevel=WARNING", *QUIET],
        cwd=PROJECT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "benchproj.settings"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 600
        while client.get("bench:end") is None:
            if time.monotonic() > deadline or worker.poll() is not None:
                raise RuntimeError(f"the {side} drain did not finish (worker exit code {worker.poll()})")
            time.sleep(0.05)  # the worker writes the end marker; polled, as the drain is timed in the worker
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=60)
    return float(client.get("bench:end")) - float(client.get("bench:start"))  # type: ignore[arg-type]


def commands(client: redis.Redis, action: Callable[[], None], count: int) -> float:
    """Redis commands per unit of ``action`` (``INFO commandstats``, scripts' inner commands included)."""
    client.config_resetstat()
    action()
    stats = client.info("commandstats")
    calls = sum(int(v["calls"]) for k, v in stats.items() if k not in {"cmdstat_config|resetstat", "cmdstat_info"})
    return calls / count


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=2000, help="enqueues per enqueue run")
    parser.add_argument("--drain", type=int, default=5000, help="no-ops per drain run")
    options = parser.parse_args()
    _setup()
    client = redis.Redis.from_url(os.environ["REDIS_URL"])
    enqueue: dict[str, list[float]] = {"@task": [], "job": []}
    drained: dict[str, list[float]] = {"@task": [], "job": []}
    for round_ in range(options.rounds):
        order = ["@task", "job"] if round_ % 2 == 0 else ["job", "@task"]
        for side in order:
            client.flushdb()
            run = enqueue_tasks if side == "@task" else enqueue_jobs
            enqueue[side].append(_timed(lambda run=run: run(options.jobs)))  # type: ignore[misc]
        for side in order:
            drained[side].append(drain(client, side, options.drain))
    client.flushdb()
    per_enqueue = {"@task": commands(client, lambda: enqueue_tasks(200), 200)}
    per_enqueue["job"] = commands(client, lambda: enqueue_jobs(200), 200)

    rows = ["| scenario | @task | job | @task rate / job rate | target |", "|---|---|---|---|---|"]
    e_task, e_job = (statistics.median(enqueue[s]) for s in ("@task", "job"))
    d_task, d_job = (statistics.median(drained[s]) for s in ("@task", "job"))
    for name, task_s, job_s, unit, n in (
        ("enqueue", e_task, e_job, "µs each", options.jobs),
        ("drain", d_task, d_job, "s", options.drain),
    ):
        ratio = job_s / task_s
        shown = (
            (f"{task_s / n * 1e6:.0f} µs each", f"{job_s / n * 1e6:.0f} µs each")
            if unit == "µs each"
            else (
                f"{task_s:.2f} s ({n / task_s:,.0f}/s)",
                f"{job_s:.2f} s ({n / job_s:,.0f}/s)",
            )
        )
        verdict = "met" if ratio >= TARGETS[name] else "missed"
        rows.append(f"| {name} | {shown[0]} | {shown[1]} | {ratio:.2f} | >= {TARGETS[name]} {verdict} |")
    rows.append(f"| Redis commands per enqueue | {per_enqueue['@task']:.1f} | {per_enqueue['job']:.1f} | | |")
    print(f"{options.rounds} rounds interleaved; {options.jobs:,} enqueues, {options.drain:,} drained per run")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
