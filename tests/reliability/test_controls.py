"""@unique, @limits_concurrency and @throttle with real prefork workers on the suite's private Redis."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import threading
import time
from typing import Any

import pytest
import redis

from conveyor import perform_all_later
from conveyor.broker.dead.dead_set import DeadSet
from tests.integration.services import ROOT
from tests.reliability.conftest import Workers, report, wait_until
from tests.reliability.test_faults import enqueuing_through, runs

pytestmark = [pytest.mark.redis, pytest.mark.processes, pytest.mark.slow]


def queued(broker: redis.Redis) -> list[bytes]:
    return [m for key in broker.keys("rel*") if broker.type(key) == b"list" for m in broker.lrange(key, 0, -1)]


def intervals(records: redis.Redis, key: str) -> list[tuple[float, float, str]]:
    return sorted(tuple(json.loads(item)) for item in records.lrange(f"intervals:{key}", 0, -1))  # type: ignore[misc]


def test_200_limited_jobs_over_10_keys_never_overlap_per_key_and_keep_the_worker_slots_busy(
    rel_app: Any, records: redis.Redis, workers: Workers
) -> None:
    from tests.reliability.app import LimitedJob, RecordJob

    started = time.monotonic()
    with enqueuing_through(rel_app):
        limited = [LimitedJob(f"k{n % 10}", 20 + n % 3 * 20) for n in range(200)]
        perform_all_later(limited)
        unlimited = [RecordJob(20) for _ in range(100)]  # queued behind every limited job
        perform_all_later(unlimited)
    workers.start(2, concurrency=2)
    broker = redis.Redis.from_url(workers.broker.url)

    wait_until(lambda: records.scard("done") >= 300, 120, message=lambda: f"{records.scard('done')} of 300 done")
    overlaps = 0
    for key in (f"k{n}" for n in range(10)):
        spans = intervals(records, key)
        assert len(spans) == 20
        overlaps += sum(1 for a, b in itertools.pairwise(spans) if b[0] < a[1])
    spans = [span for n in range(10) for span in intervals(records, f"k{n}")]
    makespan = max(end for _, end, _ in spans) - min(start for start, _, _ in spans)
    # The worker slots are busy running jobs, not waiting for a key: with 10 keys for 4 slots, a job
    # blocked on its key leaves the slot to another key's job (waiting inside a worker would idle it).
    utilization = sum(end - start for start, end, _ in spans) / (4 * makespan)
    note = f"{overlaps} overlaps; worker slots {utilization:.0%} busy running them"
    note = f"{overlaps} overlaps; worker slots {utilization:.0%} busy running them"
    report(
        "11. 200 jobs limits_concurrency(to=1) over 10 keys, 2 workers x 2, + 100 unlimited",
        300,
        0,
        0,
        time.monotonic() - started,
        note,
    )
    assert overlaps == 0
    assert utilization > 0.6
    assert all(records.sismember("done", job.job_id) for job in unlimited)
    assert broker.zcard("conveyor:limit:tests.reliability.app.LimitedJob:k0") == 0  # every slot released
    assert broker.llen("conveyor:limit:tests.reliability.app.LimitedJob:k0:blocked") == 0


def test_50_threads_enqueue_one_unique_job_once_and_the_lock_goes_with_success_or_the_dead_set(
    rel_app: Any, records: redis.Redis, workers: Workers
) -> None:
    from tests.reliability.app import UniqueJob

    broker = redis.Redis.from_url(workers.broker.url)
    barrier, jobs = threading.Barrier(50), []

    def enqueue() -> None:
        with enqueuing_through(rel_app):
            barrier.wait()
            jobs.append(UniqueJob.perform_later("same"))

    threads = [threading.Thread(target=enqueue) for _ in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    [winner] = [job for job in jobs if job.successfully_enqueued]
    assert {job.duplicate_of for job in jobs if job is not winner} == {winner.job_id}
    assert len(queued(broker)) == 1

    with enqueuing_through(rel_app):
        batch = [UniqueJob("same"), UniqueJob("other"), UniqueJob("other")]
        perform_all_later(batch)  # per job, in the one pipeline
        assert [job.successfully_enqueued for job in batch] == [False, True, False]
        assert batch[2].duplicate_of == batch[1].job_id
        later = UniqueJob.set(wait=30).perform_later("same")  # the scheduled set checks the lock the same way
        assert (later.successfully_enqueued, later.duplicate_of) == (False, winner.job_id)
        assert broker.zcard("conveyor:scheduled") == 0

    workers.start(1, concurrency=2)
    wait_until(lambda: runs(records).get(winner.job_id) == 1, 30, message="the unique job ran")
    wait_until(
        lambda: not broker.exists(f"conveyor:unique:tests.reliability.app.UniqueJob:{_digest('same')}"),
        10,
        message="its lock released on success",
    )
    with enqueuing_through(rel_app):
        again = UniqueJob.perform_later("same")
        failing = UniqueJob.perform_later("doomed", True)
    assert again.successfully_enqueued
    dead = DeadSet(broker)
    wait_until(lambda: dead.get(failing.job_id) is not None, 30, message="the failing job in the dead set")
    with enqueuing_through(rel_app):
        assert UniqueJob.perform_later("doomed", True).successfully_enqueued  # its lock went with it
    report(
        "12. 50 threads enqueue one @unique job",
        50,
        0,
        0,
        0.0,
        "1 message; accepted again after success and after the dead set",
    )


def _digest(name: str, fail: bool | None = None) -> str:
    import hashlib

    args: list[Any] = [name] if fail is None else [name, fail]
    return hashlib.sha1(json.dumps([args, {}, "rel"], sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def test_throttle_5_per_2_s_never_starts_more_in_any_window_and_loses_nothing(
    rel_app: Any, records: redis.Redis, workers: Workers
) -> None:
    from tests.reliability.app import ThrottledJob

    started = time.monotonic()
    with enqueuing_through(rel_app):
        perform_all_later([ThrottledJob("a") for _ in range(25)] + [ThrottledJob("b") for _ in range(5)])
    workers.start(1, concurrency=2)
    wait_until(lambda: records.scard("done") >= 30, 40, message=lambda: f"{records.scard('done')} of 30 done")

    starts = sorted(float(t) for t in records.lrange("starts:a", 0, -1))
    # Any 2 s window (less 50 ms for the claim-to-start delay) holds at most 5 starts.
    busiest = max(sum(1 for t in starts if s <= t < s + 1.95) for s in starts)
    spread = starts[-1] - starts[0]
    report(
        "13. throttle(limit=5, period=2): 25 jobs on one key + 5 on another",
        30,
        0,
        0,
        time.monotonic() - started,
        f"at most {busiest} starts in any 2 s; key a took {spread:.1f} s",
    )
    assert len(starts) == 25
    assert busiest <= 5
    assert 8 <= spread < 14  # five windows of 2 s (plus jitter): throttled, not dropped nor busy-looped
    assert records.llen("starts:b") == 5


def test_kill_9_of_the_only_holder_releases_the_blocked_job_and_runs_the_killed_one_once_more(
    rel_app: Any, records: redis.Redis, workers: Workers
) -> None:
    from tests.reliability.app import HEARTBEAT_TTL, LimitedJob

    started = time.monotonic()
    [holder_worker] = workers.start(1, concurrency=1)
    with enqueuing_through(rel_app):
        holder = LimitedJob.perform_later("only", 30_000, 200)  # 30 s, 0.2 s when it runs again
    wait_until(lambda: records.hget("started", holder.job_id) is not None, 30, message="the holder started")
    [other] = workers.start(1, concurrency=1)
    with enqueuing_through(rel_app):
        blocked = LimitedJob.perform_later("only", 200)
    broker = redis.Redis.from_url(workers.broker.url)
    blocked_key = "conveyor:limit:tests.reliability.app.LimitedJob:only:blocked"
    wait_until(lambda: broker.llen(blocked_key) == 1, 10, message="the second job blocked in Redis")
    shown = subprocess.run(
        [sys.executable, "-m", "celery", "-A", "tests.reliability.app", "jobs", "limits"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert "conveyor:limit:tests.reliability.app.LimitedJob:only  1/1 running, 1 blocked" in shown.stdout, shown.stderr
    assert f"  {holder.job_id}  slot expires in " in shown.stdout

    workers.kill9(holder_worker)
    killed_at = time.monotonic()
    wait_until(lambda: records.sismember("done", blocked.job_id), HEARTBEAT_TTL + 15, message="the blocked job ran")
    released_after = time.monotonic() - killed_at
    wait_until(lambda: records.sismember("done", holder.job_id), 30, message="the killed job ran again")
    spans = intervals(records, "only")
    report(
        "14. kill -9 the only holder of a to=1 key, one job blocked",
        2,
        0,
        0,
        time.monotonic() - started,
        f"blocked job ran {released_after:.1f} s after the kill (heartbeat TTL {HEARTBEAT_TTL:g} s)",
    )
    assert released_after < HEARTBEAT_TTL + 10
    assert records.hget("started", holder.job_id) == b"2"  # killed once, ran again once
    assert [job_id for *_, job_id in spans] == [blocked.job_id, holder.job_id]
    assert spans[0][1] <= spans[1][0]  # one after the other
    assert other.process.poll() is None
