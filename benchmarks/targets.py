"""The targets of "speed as shipped" (issue 18), judged from one ``make bench`` run: met or missed.

Each target is a ratio of medians measured side by side in the same run (or a latency), so a slow
or busy machine moves both sides together. ``evaluate`` returns the rows ``benchmarks.run`` prints
and writes to docs/benchmarks.md.

Example::

    for name, measured, verdict in evaluate(results, publishes_per_job=0.05, priority=text):
        print(name, measured, verdict)
"""

from __future__ import annotations

import statistics

from benchmarks.command_counts import commands, idle_per_minute

__all__ = ["WHY_MISSED", "evaluate", "explanations", "priority_p99s", "redis_cost"]


#: The measured reason, for a target this machine has missed (printed under the table when it is).
WHY_MISSED = {
    "3a.": (
        "3a: about 12 µs per job against the raw pipeline's 6 µs (which only encodes and sends a ready payload): "
        "per job conveyor still checks and serializes the arguments (~2.5 µs), encodes the body as JSON and base64 "
        "(~2 µs), fills the template (~4 µs: id, enqueue time, delivery tag, argsrepr) and redis-py encodes each "
        "value (~2 µs, as for the raw pipeline); profiled with cProfile. perform_all_later went from 62 µs to "
        "12 µs per job (11% of the raw rate to ~50%); what is left is Python per job, not round trips."
    ),
    "1.": (
        "1: drain as shipped is within this machine's spread of plain Celery's: in the full make bench of "
        "7 December 0.99x prefork and 0.95x threads, with single runs from 4.8 s to 6.9 s for the same 5,000 "
        "jobs (plain: 5.7-7.3 s); three-round runs of this scenario alone the same hour gave 1.17x / 1.04x for "
        "that commit and 1.11x / 1.16x for the commit before issue 28's changes (it was 1.38x / 1.28x on "
        "30 November's machine). Per job the worker now sends the claim and the acknowledgement (two script "
        "calls) where plain Celery sends BRPOP, a MULTI/EXEC and its early ack; what is left is the Python per "
        "job of Celery's own request handling (make profile)."
    ),
    "5a.": (
        "5a: 13.2 commands per drained job against plain Celery's 9: the claim (EVALSHA, EXISTS heartbeat, SCARD "
        "paused, LMPOP, and four writes: kombu's unacked hash and index, the claim record, the owner's held set) "
        "and the acknowledgement (EVALSHA, SREM held, HDEL x2, ZREM). Plain Celery writes the unacked hash and "
        "index only. Next: drop the unacked index for owned messages (the claim record can carry the time the "
        "Busy page reads from it), which makes 11."
    ),
    "5b.": (
        "5b: Redis CPU per drained job is 1.1-1.2x plain Celery's (203 against 178 us, 2,000 jobs, 7 December; "
        "it was ~2x before LMPOP): two script calls per job (the claim passes 69 keys, which Redis copies into "
        "the script's KEYS table on every call) and the four extra writes of 5a."
    ),
    "5c.": (
        "5c: an idle worker sends ~210 commands a minute against plain Celery's ~96 (it was 2,066 against 47 "
        "when the issue was filed, and 320 before the poller change); Redis CPU per idle minute is the same "
        "(0.99x). What is left: the super-fetch heartbeat 96 (SET, ZADD, the dead-owner script with its gate, "
        "ZRANGE and one EXISTS per owner, LLEN, SCARD every 5 s), the scheduled-set poller ~32 (a script and "
        "one ZRANGE every 2.5-5 s, as long as an entry added meanwhile must be seen before it is due), the "
        "fetch 36 (a BLPOP every 5 s and a three-command look) and Celery's own events 30 (as plain). Next: "
        "a 10 s heartbeat interval (Sidekiq's) would take 48 off; the LLEN and SCARD only in the beat that "
        "scans (one per fleet per interval) would take 24 off every worker but one."
    ),
}


def explanations(rows: list[tuple[str, str, str]]) -> list[str]:
    """The reasons of the targets ``rows`` marks missed."""
    return [why for prefix, why in WHY_MISSED.items() if any(r[0].startswith(prefix) and r[2] != "met" for r in rows)]


def redis_cost(counts: dict[str, dict[str, dict[str, float]]], jobs: int) -> list[tuple[str, str, str]]:
    """Issue 28's targets from ``benchmarks.command_counts.measure`` of both sides (``jobs`` drained)."""
    conveyor, plain = counts["conveyor"], counts["plain"]
    per_job = commands(conveyor["drain"]) / jobs
    cpu = conveyor["drain"]["cpu"] / plain["drain"]["cpu"]
    idle, plain_idle = idle_per_minute(conveyor["idle"])[0], idle_per_minute(plain["idle"])[0]
    return [
        ("5a. Redis commands per drained job <= 12", f"{per_job:.1f}", "met" if per_job <= 12 else "MISSED"),
        ("5b. Redis CPU per drained job <= 1.0x plain Celery's", f"{cpu:.2f}x", "met" if cpu <= 1.0 else "MISSED"),
        (
            "5c. an idle worker's commands per minute <= 1.0x plain Celery's",
            f"{idle:.0f} vs {plain_idle:.0f} ({idle / plain_idle:.2f}x)",
            "met" if idle <= plain_idle else "MISSED",
        ),
    ]


def _median(results: dict[str, dict[str, list[float]]], scenario: str, side: str) -> float | None:
    values = results.get(scenario, {}).get(side)
    return statistics.median(values) if values else None


def priority_p99s(priority: str) -> dict[str, float]:
    """p99 (ms) per configuration from ``benchmarks.priority_latency``'s table."""
    found = {}
    for line in priority.splitlines():
        fields = line.split()
        if fields and fields[0] in ("strict", "weighted"):
            found[fields[0]] = float(fields[-3])
    return found


def evaluate(
    results: dict[str, dict[str, list[float]]], publishes_per_job: float | None, priority: str
) -> list[tuple[str, str, str]]:
    """(target, what was measured, "met" or "MISSED") for every target that this run measured."""
    rows: list[tuple[str, str, str]] = []

    def judge(name: str, measured: float | None, goal: float, text: str, higher_is_better: bool = True) -> None:
        if measured is None:
            return
        met = measured >= goal if higher_is_better else measured <= goal
        rows.append((name, text.format(measured), "met" if met else "MISSED"))

    for pool in ("prefork", "threads"):
        scenario = f"drain as shipped {pool}"
        shipped, plain = _median(results, scenario, "conveyor as shipped"), _median(results, scenario, "plain")
        if shipped and plain:
            judge(f"1. drain as shipped, {pool}: >= 1.0x plain Celery's defaults", plain / shipped, 1.0, "{:.3f}x")
    judge(
        "2. Flower sees every job without a PUBLISH per event: < 1 PUBLISH per job",
        publishes_per_job,
        1.0,
        "{:.2f} PUBLISH per job (3 events each)",
        higher_is_better=False,
    )
    bulk, raw = _median(results, "bulk", "perform_all_later"), _median(results, "bulk", "raw LPUSH pipeline")
    looped = _median(results, "bulk", "looped perform_later")
    if bulk and raw:
        judge("3a. perform_all_later >= 50% of the raw pipelined LPUSH rate", raw / bulk, 0.5, "{:.0%}")
    if bulk and looped:
        judge("3b. perform_all_later >= 10x looped perform_later", looped / bulk, 10.0, "{:.1f}x")
    p99 = _median(results, "latency p99", "conveyor")
    judge("4a. enqueue-to-start p99 <= 10 ms, idle worker", p99, 10.0, "{:.1f} ms", higher_is_better=False)
    for configuration, value in priority_p99s(priority).items():
        judge(
            f"4b. high-priority start p99 < 100 ms under a 10,000-job backlog ({configuration})",
            value,
            99.999,
            "{:.1f} ms",
            higher_is_better=False,
        )
    return rows
