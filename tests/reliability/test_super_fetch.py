"""Super fetch with real worker processes: recovery keyed on a dead worker, not on elapsed time.

The kill -9 scenario runs with conveyor's shipped defaults (visibility timeout 3600 s, heartbeat
TTL 30 s: RELIABILITY_SHIPPED=1); the SIGSTOP scenario keeps the shipped visibility timeout and
shortens only the heartbeat TTL (4 s), the one timeout its recovery waits for; the long-job
scenario shortens the visibility timeout to show it no longer matters; the poison-pill scenario
uses the suite's short timeouts.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from typing import Any

import pytest
import redis

from conveyor import Batch, perform_all_later
from conveyor.broker.dead.dead_set import DeadSet
from conveyor.keys import CLAIMS_KEY, HEARTBEAT_PREFIX, HELD_PREFIX
from tests.integration.services import ROOT
from tests.reliability.conftest import Workers, report, wait_until
from tests.reliability.test_faults import diagnose, enqueuing_through, runs

pytestmark = [pytest.mark.redis, pytest.mark.processes, pytest.mark.slow]

SHIPPED = {"RELIABILITY_SHIPPED": "1"}


def owner_of(broker: redis.Redis, pid: int) -> str:
    """The super-fetch owner id of the worker whose main process is ``pid`` (from its first heartbeat)."""
    found: list[str] = []

    def beating() -> bool:
        for key in broker.scan_iter(HEARTBEAT_PREFIX + "*"):
            if json.loads(broker.get(key) or "{}").get("pid") == pid:
                found.append(key.decode().removeprefix(HEARTBEAT_PREFIX))
        return bool(found)

    wait_until(beating, 10, message=f"a heartbeat of pid {pid}")
    return found[0]


def held_jobs(broker: redis.Redis, owner: str) -> set[str]:
    """The job ids the owner holds (claimed, not acknowledged)."""
    tags = list(broker.smembers(HELD_PREFIX + owner))
    values = broker.hmget("unacked", tags) if tags else []
    return {json.loads(value)[0]["headers"]["id"] for value in values if value}


def test_kill_9_of_one_worker_with_the_shipped_defaults_brings_its_jobs_back_within_a_minute(
    rel_app: Any, records: redis.Redis, workers: Workers
) -> None:
    from tests.reliability.app import RecordJob

    started = time.monotonic()
    pool = workers.start(3, concurrency=2, **SHIPPED)
    with enqueuing_through(rel_app):
        jobs = [RecordJob(20 + n % 40) for n in range(600)]
        perform_all_later(jobs)
    ids = {job.job_id for job in jobs}
    broker = redis.Redis.from_url(workers.broker.url)
    owner = owner_of(broker, pool[0].process.pid)

    wait_until(lambda: records.scard("done") >= 150, 60, message="a quarter of the jobs done")
    workers.kill9(pool[0])
    killed_at = time.time()
    held = held_jobs(broker, owner)  # what the dead worker held: nothing changes it now
    workers.start(1, concurrency=2, **SHIPPED)  # its replacement, at once

    wait_until(
        lambda: (
            records.scard("done") >= 600
            and all(float(records.hget("last_run", job_id) or 0) > killed_at for job_id in held)
        ),
        90,
        message=lambda: diagnose(records, broker, ids, workers.all),
    )
    back_after = max(float(records.hget("last_run", job_id)) - killed_at for job_id in held)  # type: ignore[arg-type]
    counts = runs(records)
    duplicates = sum(counts.values()) - len(counts)
    report(
        "7. kill -9 one of 3 workers, shipped defaults (visibility timeout 3600 s)",
        600,
        len(ids - set(counts)),
        duplicates,
        time.monotonic() - started,
        f"its {len(held)} held jobs ran again {back_after:.0f} s after the kill",
    )

    assert held, "the killed worker held no job: the kill came too late to test anything"
    assert set(counts) == ids
    assert back_after < 60
    assert duplicates <= len(held)
    assert broker.hlen("unacked") == broker.hlen(CLAIMS_KEY) == 0


def test_a_job_three_times_longer_than_the_visibility_timeout_starts_once(
    rel_app: Any, records: redis.Redis, workers: Workers
) -> None:
    from tests.reliability.app import VISIBILITY_TIMEOUT, SlowJob

    started = time.monotonic()
    workers.start(2, concurrency=1)  # two idle workers; kombu's sweep runs every second in this app
    with enqueuing_through(rel_app):
        job = SlowJob.perform_later(3 * VISIBILITY_TIMEOUT)

    wait_until(
        lambda: records.hget("finished", job.job_id) is not None,
        3 * VISIBILITY_TIMEOUT + 30,
        message="the long job finished",
    )
    started_count = int(records.hget("started", job.job_id))  # type: ignore[arg-type]
    note = f"started {started_count}x (visibility timeout {VISIBILITY_TIMEOUT:g} s)"
    report(
        "8. a job 3x the visibility timeout, two idle workers",
        1,
        0,
        started_count - 1,
        time.monotonic() - started,
        note,
    )
    assert started_count == 1


def test_sigstop_past_the_heartbeat_ttl_recovers_its_job_and_sigcont_corrupts_nothing(
    rel_app: Any, records: redis.Redis, workers: Workers
) -> None:
    from tests.reliability.app import RecordJob, SlowJob

    started = time.monotonic()
    # The shipped visibility timeout (recovery must not wait for it); the heartbeat TTL the suite's 4 s
    # (the kill -9 scenario above shows the shipped 30 s)
    shipped_visibility = {"RELIABILITY_VISIBILITY_TIMEOUT": "3600"}
    [paused] = workers.start(1, concurrency=1, **shipped_visibility)
    with enqueuing_through(rel_app):
        job = SlowJob.perform_later(4.0, 8.0)  # 4 s where it starts, 8 s where it runs again
    wait_until(lambda: records.hget("started", job.job_id) is not None, 30, message="the job started")
    [other] = workers.start(1, concurrency=1, **shipped_visibility)
    broker = redis.Redis.from_url(workers.broker.url)
    other_owner = owner_of(broker, other.process.pid)

    shown = subprocess.run(
        [sys.executable, "-m", "celery", "-A", "tests.reliability.app", "jobs", "busy"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert "1 job(s) running" in shown.stdout, shown.stderr
    assert f":{paused.process.pid}  SlowJob  {job.job_id}  rel  since " in shown.stdout

    os.killpg(paused.process.pid, signal.SIGSTOP)  # the worker and its pool: a paused VM
    stopped_at = time.monotonic()
    try:
        wait_until(lambda: records.hget("started", job.job_id) == b"2", 60, message="another worker took the job")
        recovered_after = time.monotonic() - stopped_at
    finally:
        os.killpg(paused.process.pid, signal.SIGCONT)

    # The paused worker finishes its run and acknowledges late: ignored, the other worker's claim stays.
    paused.wait_for("came after its job was recovered from this worker", timeout_s=30)
    assert records.hget("finished", job.job_id) == b"1"
    tag = next(iter(broker.smembers(HELD_PREFIX + other_owner))).decode()
    assert broker.hget(CLAIMS_KEY, tag).decode().startswith(other_owner + " ")  # type: ignore[union-attr]
    assert broker.hexists("unacked", tag)

    wait_until(lambda: records.hget("finished", job.job_id) == b"2", 30, message="the other worker finished it")
    wait_until(lambda: broker.hlen("unacked") == 0, 10, message="the other worker acknowledged it")
    assert broker.hlen(CLAIMS_KEY) == 0
    assert paused.process.poll() is None
    assert "Unrecoverable error" not in paused.output
    with enqueuing_through(rel_app):
        after = [RecordJob.perform_later(1) for _ in range(4)]
    wait_until(lambda: all(records.sismember("done", j.job_id) for j in after), 30, message="both keep working")
    report(
        "9. SIGSTOP a worker past the heartbeat TTL, then SIGCONT",
        1,
        0,
        1,
        time.monotonic() - started,
        f"recovered {recovered_after:.0f} s after SIGSTOP; ran twice (at least once), late ack ignored",
    )
    # Not before the heartbeat TTL (4 s, less the up to 1 s since the last beat), and soon after it
    assert 3 <= recovered_after < 15


def test_a_job_that_kills_its_process_goes_to_the_dead_set_after_three_deaths(
    rel_app: Any, records: redis.Redis, workers: Workers
) -> None:
    from tests.reliability.app import KillerJob, RecordJob

    started = time.monotonic()
    [worker] = workers.start(1, concurrency=2)
    with enqueuing_through(rel_app):
        batch = Batch(description="with a job that kills its process")
        with batch.jobs():  # its death is recorded by the worker's main process: dead in its batch too
            killer = KillerJob.perform_later()
            others = [RecordJob(10) for _ in range(50)]
            perform_all_later(others)
    dead = DeadSet(redis.Redis.from_url(workers.broker.url))

    wait_until(lambda: dead.get(killer.job_id) is not None, 60, message="the killer job in the dead set")
    wait_until(lambda: records.scard("done") == 50, 30, message="every other job done")
    with enqueuing_through(rel_app):
        wait_until(lambda: batch.status.finished, 30, message=lambda: f"the batch's end: {batch.status}")
        assert (batch.status.dead, batch.status.succeeded) == (1, 50)
    record = dead.get(killer.job_id)
    report(
        "10. a job that kill -9s its own process",
        51,
        0,
        0,
        time.monotonic() - started,
        f"ran {runs(records)[killer.job_id]}x, then dead: {record['reason']}",
    )  # type: ignore[index]
    assert record["reason"] == "its worker died 3 times while running it"  # type: ignore[index]
    assert runs(records)[killer.job_id] == 3
    assert worker.process.poll() is None
