"""Acting on a selection of waiting jobs: the old path (one read of the set per id) next to the new one.

    python -m conveyor.devserver --private -- python -m benchmarks.operator_actions

Fills the scheduled set with 20,000 entries, then runs the Scheduled page's Run now on ids spread
over the set: **old** reads the set once per id (what ``waiting._find`` did before issue 25, here
``waiting.find`` per id, which reads all of it where the old one read the first 10,000), **new**
reads it once for all ids and moves them in one script per 500. Prints time per id, the ratio and
Redis commands per call (``INFO commandstats``), each path on a fresh copy of the set.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

import redis

from conveyor.broker.scheduled import waiting
from conveyor.keys import SCHEDULED_KEY, WAKE_PREFIX

ENTRIES = 20_000


def fill(client: Any) -> None:
    client.delete(SCHEDULED_KEY, "bench-q", WAKE_PREFIX + "bench-q")
    entries = {}
    for n in range(ENTRIES):
        headers = {"id": f"job-{n}", "task": "x.Y", "conveyor": {"queue": "bench-q"}}
        message = json.dumps({"body": "", "headers": headers, "properties": {"delivery_tag": f"t{n}"}})
        entry = {"key": "bench-q", "message": message, "id": f"job-{n}", "wake": WAKE_PREFIX + "bench-q"}
        entries[json.dumps(entry)] = 4e9 + n
    client.zadd(SCHEDULED_KEY, entries)


def commands(client: Any) -> int:
    return sum(int(value["calls"]) for value in client.info("commandstats").values())


def measure(client: Any, ids: list[str], per_id: bool) -> tuple[float, int]:
    fill(client)
    before, started = commands(client), time.perf_counter()
    if per_id:  # the old shape: one read of the set per id, then one script
        for job_id in ids:
            waiting.find(client, [job_id])
            waiting.run_now(client, job_id)
    else:
        waiting.run_now(client, ids)
    elapsed = time.perf_counter() - started
    assert client.llen("bench-q") == len(ids)
    return elapsed, commands(client) - before


def main() -> None:
    client = redis.Redis.from_url(os.environ["REDIS_URL"])
    old_ids = [f"job-{n}" for n in range(0, ENTRIES, ENTRIES // 10)]  # 10: the old path costs seconds per id
    new_ids = [f"job-{n}" for n in range(0, ENTRIES, ENTRIES // 500)]  # 500, the most one post accepts
    old_s, old_commands = measure(client, old_ids, per_id=True)
    new_s, new_commands = measure(client, new_ids, per_id=False)
    client.delete(SCHEDULED_KEY, "bench-q", WAKE_PREFIX + "bench-q")
    old_per_id, new_per_id = old_s / len(old_ids), new_s / len(new_ids)
    print(f"Run now on a selection, {ENTRIES:,} entries in the scheduled set:")
    print(
        f"  old (a read of the set per id): {len(old_ids)} ids in {old_s:.2f} s, {old_per_id * 1000:.1f} ms/id, "
        f"{old_commands / len(old_ids):.1f} Redis commands/id"
    )
    print(
        f"  new (one read, one script):     {len(new_ids)} ids in {new_s:.2f} s, {new_per_id * 1000:.2f} ms/id, "
        f"{new_commands / len(new_ids):.2f} Redis commands/id"
    )
    print(f"  new / old per id: {new_per_id / old_per_id:.4f}; 500 ids the old way: ~{old_per_id * 500:.0f} s")


if __name__ == "__main__":
    main()
