"""Conveyor against plain Celery, side by side, interleaved (A B A B …), on a Redis of its own.

    make bench                                   # all scenarios, 5 rounds, table + results file
    python -m conveyor.devserver --private -- python -m benchmarks.run --rounds 5

Scenarios (each conveyor run next to the equivalent plain-Celery run, same app config, same payload):

1. enqueue   N ``NoopJob.perform_later(i)`` vs N ``plain_noop.apply_async((i,))``, one producer.
2. bulk      ``perform_all_later`` of N jobs vs the same N looped ``perform_later`` vs a pipelined
             raw Redis LPUSH of N equally sized messages (the physical reference).
3. drain     a start marker, D no-op jobs and an end marker queued; one ``celery worker -c 2``
             (prefork, then threads) starts; time from the start marker to the end marker.
             Prefork also runs conveyor with the reliable fetch alone (before the super fetch)
             and plain tasks on kombu's own fetch (``BENCH_FETCH``, ``benchmarks/bench_app.py``).
4. latency   L jobs sent at a steady rate to an idle worker (-c 2 prefork); each records the time
             from send to start; p50 and p99.
5. priority  ``benchmarks.priority_latency`` (strict and weighted), run once at the end.
6. heartbeat the super fetch's Redis cost: commands of an idle worker process over 30 s, per minute.
7. shipped  drain of the service as shipped (``benchmarks.shipped``: result backend, task events,
             acks late, prefetch 1, the service's six weighted queues) vs plain Celery with its own
             defaults, prefork and threads; then Redis commands per job (``benchmarks.command_counts``).
8. selection  ``benchmarks.operator_actions``: Run now on 500 ids of 20,000 waiting, one read and one
             script vs the old read of the set per id, run once at the end.
9. durable  ``benchmarks.durable_enqueue``: perform_later with conveyor_enqueue_replicas = 1 (WAIT for a
             replica) next to without, on a master and replica of its own, run once at the end.
10. django   ``benchmarks.django_tasks``: a ``@task`` through conveyor's ``django.tasks`` backend next to
             the equivalent job: enqueue and drain, run once at the end.
11. async    ``benchmarks.async_jobs``: ``async def perform`` drained next to ``def perform``; 200 jobs x 1 s
             of I/O on one threads worker; the loop lag of ``aperform_later`` against ``perform_later``.
12. batches  ``benchmarks.batches``: 10,000 no-op jobs in a batch next to the same jobs outside one: enqueue,
             drain, Redis commands and CPU per job, Redis memory per job once the batch finished.

Ends with the targets of issue 18, each met or missed (``benchmarks.targets``).

Writes ``benchmarks/results/<date>.md`` and ``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.workers import QUIET, bench_worker

ROOT = Path(__file__).resolve().parents[1]


def _worker(pool: str, fetch: str = "super") -> subprocess.Popen[bytes]:
    return bench_worker("benchmarks.bench_app", pool, *QUIET, env={**os.environ, "BENCH_FETCH": fetch})


def _stop(worker: subprocess.Popen[bytes]) -> None:
    worker.terminate()
    worker.wait(timeout=60)


class Bench:
    def __init__(self, n_enqueue: int, n_drain: int, n_latency: int, rate_per_s: float) -> None:
        from benchmarks import bench_app

        self.app = bench_app
        self.redis = bench_app._redis
        self.n_enqueue, self.n_drain, self.n_latency, self.rate_per_s = n_enqueue, n_drain, n_latency, rate_per_s

    def clean(self) -> None:
        self.redis.flushdb()

    # 1 --------------------------------------------------------------------------------------------
    def enqueue_conveyor(self) -> float:
        job, n = self.app.NoopJob, self.n_enqueue
        started = time.perf_counter()
        for i in range(n):
            job.perform_later(i)
        return time.perf_counter() - started

    def enqueue_plain(self) -> float:
        task, n = self.app.plain_noop, self.n_enqueue
        started = time.perf_counter()
        for i in range(n):
            task.apply_async((i,))
        return time.perf_counter() - started

    # 2 --------------------------------------------------------------------------------------------
    def bulk_conveyor(self) -> float:
        from conveyor import perform_all_later

        jobs = [self.app.NoopJob(i) for i in range(self.n_enqueue)]
        started = time.perf_counter()
        perform_all_later(jobs)
        return time.perf_counter() - started

    def bulk_raw_lpush(self) -> float:
        self.app.NoopJob.perform_later(0)  # one real message, to copy its size
        key = next(k for k in self.redis.keys("default*") if self.redis.type(k) == b"list")
        payload = self.redis.lindex(key, 0)
        assert payload is not None
        self.clean()
        started = time.perf_counter()
        for start in range(0, self.n_enqueue, 1000):
            with self.redis.pipeline(transaction=False) as pipe:
                for _ in range(min(1000, self.n_enqueue - start)):
                    pipe.lpush("raw", payload)
                pipe.execute()
        return time.perf_counter() - started

    # 3 --------------------------------------------------------------------------------------------
    def drain(self, pool: str, conveyor: bool, fetch: str = "super") -> float:
        def fill() -> None:
            from conveyor import perform_all_later

            if conveyor:
                perform_all_later(
                    [self.app.MarkJob("bench:start")] + [self.app.NoopJob(i) for i in range(self.n_drain)]
                )
                perform_all_later([self.app.MarkJob("bench:end")])
            else:
                self.app.plain_mark.apply_async(("bench:start",))
                with self.app.app.producer_or_acquire() as producer, producer.batch(max_size=5000):
                    for i in range(self.n_drain):
                        self.app.plain_noop.apply_async((i,), producer=producer)
                self.app.plain_mark.apply_async(("bench:end",))

        fill()
        worker = _worker(pool, fetch)
        try:
            deadline = time.monotonic() + 600
            # The end marker is the last message; wait on its key with a blocking keyspace-free loop.
            while self.redis.get("bench:end") is None:
                if time.monotonic() > deadline:
                    raise RuntimeError("drain did not finish in 600 s")
                time.sleep(0.05)
        finally:
            _stop(worker)
        return float(self.redis.get("bench:end")) - float(self.redis.get("bench:start"))  # type: ignore[arg-type]

    # 6 --------------------------------------------------------------------------------------------
    def heartbeat_cost(self, seconds: float = 30.0) -> dict[str, float]:
        """Commands per minute of one idle worker process: the heartbeat's, and everything it sends."""
        worker = _worker("prefork")
        try:
            deadline = time.monotonic() + 60
            while not self.redis.keys("conveyor:heartbeat:*"):
                if time.monotonic() > deadline:
                    raise RuntimeError("the worker never sent a heartbeat")
                time.sleep(0.1)
            self.redis.config_resetstat()
            time.sleep(seconds)  # an idle worker: what it costs Redis per unit of time
            stats = self.redis.info("commandstats")
        finally:
            _stop(worker)
        calls = {name.removeprefix("cmdstat_"): int(value["calls"]) for name, value in stats.items()}
        per_minute = 60.0 / seconds
        # Each heartbeat is one pipeline: SET (the key, with its TTL), ZADD, EVALSHA (find dead owners), LLEN.
        # Nothing else an idle worker sends uses SET or ZADD; EVALSHA and LLEN have other users, so count SETs.
        beats = calls.get("set", 0)
        heartbeat = 4 * beats
        everything = sum(count for name, count in calls.items() if name not in {"info", "config|resetstat"})
        return {
            "round trips": beats * per_minute,
            "commands": heartbeat * per_minute,
            "idle worker commands": everything * per_minute,
        }

    # 4 --------------------------------------------------------------------------------------------
    def latency(self, conveyor: bool) -> tuple[float, float]:
        worker = _worker("prefork")
        try:

            def send(at: float) -> None:
                if conveyor:
                    self.app.LatencyJob.perform_later(at)
                else:
                    self.app.plain_latency.apply_async((at,))

            send(time.time())  # warm up: the worker is up once this one ran
            if self.redis.brpop("bench:latency", timeout=60) is None:
                raise RuntimeError("the worker did not start")
            interval = 1.0 / self.rate_per_s
            next_at = time.perf_counter()
            for _ in range(self.n_latency):
                next_at += interval
                send(time.time())
                pause = next_at - time.perf_counter()
                if pause > 0:
                    time.sleep(pause)  # a steady send rate, not a wait for the result
            samples = []
            for _ in range(self.n_latency):
                reply = self.redis.brpop("bench:latency", timeout=60)
                if reply is None:
                    raise RuntimeError("a latency sample never arrived")
                samples.append(float(reply[1]) * 1000)
        finally:
            _stop(worker)
        samples.sort()
        return samples[len(samples) // 2], samples[min(len(samples) - 1, int(len(samples) * 0.99))]


def summarize(values: list[float]) -> tuple[float, float, float]:
    return statistics.median(values), min(values), max(values)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--jobs", type=int, default=20_000, help="jobs per enqueue and bulk run")
    parser.add_argument("--drain", type=int, default=5_000, help="jobs per drain run")
    parser.add_argument("--latency", type=int, default=1_000, help="samples per latency run")
    parser.add_argument("--rate", type=float, default=250.0, help="latency send rate, jobs/s")
    parser.add_argument("--only", default="", help="run only the scenarios whose name starts with this")
    options = parser.parse_args()
    os.environ.setdefault("BENCH_QUEUES", '["default"]')
    bench = Bench(options.jobs, options.drain, options.latency, options.rate)
    from benchmarks import command_counts, shipped, targets

    n_ship = options.drain

    results: dict[str, dict[str, list[float]]] = {}
    order = [
        "enqueue",
        "bulk",
        "drain prefork",
        "drain threads",
        "drain as shipped prefork",
        "drain as shipped threads",
        "latency p50",
        "latency p99",
    ]

    def record(scenario: str, side: str, value: float) -> None:
        results.setdefault(scenario, {}).setdefault(side, []).append(value)

    print(f"conveyor vs plain Celery: {options.rounds} rounds, interleaved", flush=True)
    for round_number in range(1, options.rounds + 1):
        runs = [
            ("enqueue", "conveyor", bench.enqueue_conveyor),
            ("enqueue", "plain", bench.enqueue_plain),
            ("bulk", "perform_all_later", bench.bulk_conveyor),
            ("bulk", "looped perform_later", bench.enqueue_conveyor),
            ("bulk", "raw LPUSH pipeline", bench.bulk_raw_lpush),
            ("drain prefork", "conveyor", lambda: bench.drain("prefork", True)),
            ("drain prefork", "plain", lambda: bench.drain("prefork", False)),
            ("drain prefork", "conveyor, reliable fetch alone", lambda: bench.drain("prefork", True, "reliable")),
            ("drain prefork", "plain, kombu's fetch", lambda: bench.drain("prefork", False, "kombu")),
            ("drain threads", "conveyor", lambda: bench.drain("threads", True)),
            ("drain threads", "plain", lambda: bench.drain("threads", False)),
            ("drain as shipped prefork", "conveyor as shipped", lambda: shipped.drain("conveyor", "prefork", n_ship)),
            ("drain as shipped prefork", "plain", lambda: shipped.drain("plain", "prefork", n_ship)),
            ("drain as shipped threads", "conveyor as shipped", lambda: shipped.drain("conveyor", "threads", n_ship)),
            ("drain as shipped threads", "plain", lambda: shipped.drain("plain", "threads", n_ship)),
            ("latency", "conveyor", lambda: bench.latency(True)),
            ("latency", "plain", lambda: bench.latency(False)),
        ]
        # A B in odd rounds, B A in even ones, so neither side always runs first (warm caches, drift).
        for scenario, side, run in runs if round_number % 2 else reversed(runs):
            if not scenario.startswith(options.only):
                continue
            bench.clean()
            outcome: Any = run()
            if isinstance(outcome, tuple):
                record("latency p50", side, outcome[0])
                record("latency p99", side, outcome[1])
            else:
                record(scenario, side, outcome)
        print(f"  round {round_number} done", flush=True)
    bench.clean()

    rows = []
    for scenario, sides in sorted(results.items(), key=lambda item: order.index(item[0])):
        base_side = "plain" if "plain" in sides else "looped perform_later"
        base = statistics.median(sides[base_side])
        for side, values in sides.items():
            median, low, high = summarize(values)
            unit = "ms" if scenario.startswith("latency") else "s"
            n = {"enqueue": options.jobs, "bulk": options.jobs}.get(scenario) or (  # drains: options.drain
                options.drain if scenario.startswith("drain") else None
            )
            rate = f"{n / median:,.0f}/s" if n and unit == "s" else ""
            ratio = "" if side == base_side else f"{median / base:.3f}"
            rows.append((scenario, side, f"{median:.3f} {unit}", f"{low:.3f}", f"{high:.3f}", rate, ratio, base_side))
    if options.only:  # a partial run: print the table and the targets it measured, keep the results files
        print("\n".join(" | ".join(map(str, row[:7])) for row in rows))
        print("\n".join(" | ".join(row) for row in targets.evaluate(results, None, "")))
        return 0
    counts = {side: command_counts.measure(side, 3000) for side in ("conveyor", "plain")}
    drain_calls = counts["conveyor"]["drain"]
    publishes_per_job = drain_calls.get("publish", 0) / 3000
    heartbeat = bench.heartbeat_cost()
    drains = {side: statistics.median(values) for side, values in results["drain prefork"].items()}
    super_vs_reliable = drains["conveyor"] / drains["conveyor, reliable fetch alone"]
    super_vs_kombu = drains["conveyor"] / drains["plain, kombu's fetch"]
    priority, selections, durable, django_tasks, async_jobs, batches = (
        _run_once(module)
        for module in (
            "priority_latency",
            "operator_actions",
            "durable_enqueue",
            "django_tasks",
            "async_jobs",
            "batches",
        )
    )

    verdicts = targets.evaluate(results, publishes_per_job, priority) + targets.redis_cost(counts, 3000)
    target_table = ["| target | measured | |", "|---|---|---|"] + [f"| {a} | {b} | {c} |" for a, b, c in verdicts]
    target_table += ["", *[f"Missed, why: {why}" for why in targets.explanations(verdicts)]]
    count_rows = list(command_counts.HEADER)
    for side, phases in counts.items():
        count_rows += command_counts.report(side, phases, 3000)
    profile = ROOT / "benchmarks" / "results" / "profile.md"
    table = ["| scenario | side | median | min | max | rate | ratio to |", "|---|---|---|---|---|---|---|"]
    for scenario, side, median_text, low_text, high_text, rate, ratio, base_side in rows:
        versus = f"{ratio} of {base_side}" if ratio else ""
        table.append(f"| {scenario} | {side} | {median_text} | {low_text} | {high_text} | {rate} | {versus} |")
    report = "\n".join(
        [
            f"# Benchmarks, {dt.date.today().isoformat()}",
            "",
            f"Machine: {platform.node()}, {os.cpu_count()} cores, {_cpu()}, Python {platform.python_version()}, "
            f"{_versions()}. Redis: a private server started by `conveyor.devserver --private` on loopback.",
            "",
            f"Command: `make bench` ({options.rounds} rounds interleaved, A B then B A; "
            f"{options.jobs:,} jobs per enqueue/bulk run, "
            f"{options.drain:,} per drain run, {options.latency:,} latency samples at {options.rate:g}/s). "
            "Ratio = median time / median time (below 1: conveyor is faster). The first drains run the same app "
            "config on both sides (conveyor's, no result backend, no events); \"drain as shipped\" runs the service's "
            "configuration against `Celery(broker=...)` with Celery's own defaults (`benchmarks/shipped.py`).",
            "",
            "## Targets (issue 18; 5a-5c: issue 28)",
            "",
            *target_table,
            "",
            "## Measurements",
            "",
            *table,
            "",
            "## Redis commands and CPU per job and per idle minute (3,000 no-op jobs, `benchmarks/command_counts.py`)",
            "",
            "Counted by Redis (`INFO commandstats`), commands inside Lua scripts included; see docs/redis_commands.md.",
            "",
            *count_rows,
            "",
            f"Super fetch: drain prefork took {super_vs_reliable:.3f} of the time of the reliable fetch alone "
            f"(conveyor before the super fetch), and {super_vs_kombu:.3f} of plain Celery tasks on kombu's own "
            "fetch, same run. Its Redis cost per idle worker process: "
            f"{heartbeat['round trips']:.0f} heartbeat round trips ({heartbeat['commands']:.0f} commands) per minute, "
            f"of {heartbeat['idle worker commands']:.0f} commands per minute the idle worker sends in all "
            "(the fetch's wait and look every 5 s and the scheduled-set poller are the rest).",
            "",
            "Priority latency (`benchmarks/priority_latency.py`):",
            "",
            "```",
            priority.strip(),
            "```",
            "",
            "Operator actions on a selection (`benchmarks/operator_actions.py`, issue 25):",
            "",
            "```",
            selections.strip(),
            "```",
            "",
            "Durable enqueue (`benchmarks/durable_enqueue.py`, issue 28):",
            "",
            "```",
            durable.strip(),
            "```",
            "",
            "`django.tasks` on conveyor's backend next to conveyor's jobs (`benchmarks/django_tasks.py`, issue 29):",
            "",
            django_tasks.strip(),
            "",
            "`async def perform` next to `def perform`, and the async enqueue (`benchmarks/async_jobs.py`, issue 30):",
            "",
            async_jobs.strip(),
            "",
            "Jobs in a batch next to the same jobs outside one (`benchmarks/batches.py`, issue 31):",
            "",
            batches.strip(),
            "",
            profile.read_text() if profile.exists() else "(no profile yet: `make profile` writes one)",
        ]
    )
    print(report)
    results_dir = ROOT / "benchmarks" / "results"
    results_dir.mkdir(parents=True, exist_ok=True)
    (results_dir / f"{dt.date.today().isoformat()}.md").write_text(report)
    (ROOT / "docs").mkdir(exist_ok=True)
    (ROOT / "docs" / "benchmarks.md").write_text(report)
    return 0


def _run_once(module: str) -> str:
    """What ``python -m benchmarks.<module>`` prints (the scenarios run once, at the end)."""
    argv = [sys.executable, "-m", f"benchmarks.{module}"]
    return subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, check=True).stdout


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _versions() -> str:
    from importlib.metadata import version

    return ", ".join(f"{name} {version(name)}" for name in ("celery", "kombu", "redis"))


if __name__ == "__main__":
    sys.exit(main())
