"""No job lost: kill -9, pool-child kills, a Redis restart, long delays, poison messages, SIGTERM.

Real worker processes (prefork) on a private redis-server with AOF; jobs record their
runs in another Redis. lost = jobs never recorded; duplicates = extra runs (at least
once delivery: a job that ran but whose ack died with its worker runs again).
"""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from conveyor import perform_all_later
from tests.integration.services import ROOT
from tests.reliability.conftest import Workers, report, wait_until

pytestmark = [pytest.mark.redis, pytest.mark.processes, pytest.mark.slow]


@contextlib.contextmanager
def enqueuing_through(app: Any) -> Iterator[None]:
    """Jobs enqueued in the block go through the reliability app (this thread's current app)."""
    from celery import _state

    previous = _state.get_current_app()
    app.set_current()
    try:
        yield
    finally:
        previous.set_current()


def diagnose(records: redis.Redis, broker: redis.Redis, ids: set[str], services: list[Any]) -> str:
    """Where the jobs not recorded as done are: queues, unacked, scheduled or dead set, and the workers' logs."""
    missing = ids - {m.decode() for m in records.smembers("done")}
    queued = [m for key in broker.keys("rel*") for m in broker.lrange(key, 0, -1)]
    unacked = broker.hvals("unacked")
    dead = broker.hkeys("conveyor:dead:jobs")
    where = {
        job_id: (
            "queued"
            if any(job_id.encode() in m for m in queued)
            else "unacked"
            if any(job_id.encode() in m for m in unacked)
            else "dead"
            if job_id.encode() in dead
            else "nowhere"
        )
        for job_id in sorted(missing)[:10]
    }
    logs = "\n".join(
        line
        for service in services
        for line in service.output.splitlines()
        if any(job_id in line for job_id in missing) or "ERROR" in line or "CRITICAL" in line
    )
    return f"{len(missing)} not done: {where}\n{logs[-6000:]}"


def runs(records: redis.Redis, key: str = "runs") -> dict[str, int]:
    return {k.decode(): int(v) for k, v in records.hgetall(key).items()}


def test_kill_9_half_the_workers_mid_run_loses_nothing(rel_app: Any, records: redis.Redis, workers: Workers) -> None:
    from tests.reliability.app import RecordJob

    started = time.monotonic()
    pool = workers.start(4, concurrency=2)
    rng = random.Random(2026)
    with enqueuing_through(rel_app):
        jobs = [RecordJob(rng.randint(5, 50)) for _ in range(2000)]
        perform_all_later(jobs)
    ids = {job.job_id for job in jobs}

    wait_until(lambda: records.scard("done") >= 500, 60, message="a quarter of the jobs done")
    broker_client = redis.Redis.from_url(workers.broker.url)
    in_flight = broker_client.hlen("unacked")  # delivered, not yet acknowledged: what a kill can duplicate
    workers.kill9(pool[0])
    workers.kill9(pool[1])
    for survivor in pool[2:]:
        survivor.send()  # SIGTERM (a deploy): finish or hand back, then exit
    for survivor in pool[2:]:
        assert survivor.wait(timeout_s=30) == 0, survivor.output[-2000:]
    done_at_kill = records.scard("done")
    respawned = workers.start(4, concurrency=2)

    wait_until(
        lambda: records.scard("done") >= 2000,
        90,
        message=lambda: diagnose(records, broker_client, ids, respawned + pool),
    )
    done = {member.decode() for member in records.smembers("done")}
    counts = runs(records)
    lost = len(ids - done)
    duplicates = sum(counts.values()) - len(counts)
    report(
        "1. kill -9 two of 4 workers, TERM the others, respawn",
        2000,
        lost,
        duplicates,
        time.monotonic() - started,
        f"{done_at_kill} done at the kill, {in_flight} unacked",
    )

    assert lost == 0
    assert done == ids
    # At least once: only jobs delivered and unacknowledged at the kill can run twice;
    # the two killed workers held at most concurrency + prefetch (2 + 2) each.
    assert duplicates <= max(in_flight, 2 * (2 + 2))


def test_kill_9_of_a_pool_child_mid_job_runs_the_job_again(
    rel_app: Any, records: redis.Redis, workers: Workers
) -> None:
    import os
    import signal

    from tests.reliability.app import SlowJob

    started = time.monotonic()
    [worker] = workers.start(1, concurrency=2)
    with enqueuing_through(rel_app):
        job = SlowJob.perform_later(2.0)

    wait_until(lambda: records.hget("pid", job.job_id) is not None, 30, message="the job started")
    child = int(records.hget("pid", job.job_id))  # type: ignore[arg-type]
    assert child != worker.process.pid  # a pool child, not the worker
    os.kill(child, signal.SIGKILL)

    wait_until(lambda: records.hget("finished", job.job_id) is not None, 30, message="the job ran again and finished")
    worker.wait_for(f"Task tests.reliability.app.SlowJob[{job.job_id}] succeeded", timeout_s=10)
    started_count, finished = int(records.hget("started", job.job_id)), int(records.hget("finished", job.job_id))  # type: ignore[arg-type]
    report(
        "2. kill -9 a pool child mid-job",
        1,
        0 if finished else 1,
        finished - 1,
        time.monotonic() - started,
        f"started {started_count}x, finished {finished}x; Celery: retry on worker lost",
    )

    assert (started_count, finished) == (2, 1)
    assert "WorkerLostError" in worker.output  # Celery saw the child die ...
    assert f"Task tests.reliability.app.SlowJob[{job.job_id}] retry" in worker.output  # ... and retried it
    assert records.hget("pid", job.job_id) != str(child).encode()  # in another child


def test_a_redis_restart_mid_run_loses_nothing(
    rel_app: Any, records: redis.Redis, workers: Workers, broker: Any
) -> None:
    from tests.reliability.app import RecordJob

    started = time.monotonic()
    pool = workers.start(2, concurrency=2)
    with enqueuing_through(rel_app):
        jobs = [RecordJob(20) for _ in range(600)]
        perform_all_later(jobs)
    ids = {job.job_id for job in jobs}

    wait_until(lambda: records.scard("done") >= 150, 60, message="a quarter done")
    broker.restart()  # SIGTERM to redis-server, start again on the same port and AOF file
    restarted_at = records.scard("done")

    broker_client = redis.Redis.from_url(broker.url)
    wait_until(lambda: records.scard("done") >= 600, 90, message=lambda: diagnose(records, broker_client, ids, pool))
    counts = runs(records)
    lost = len(ids - {m.decode() for m in records.smembers("done")})
    duplicates = sum(counts.values()) - len(counts)
    report(
        "3. restart Redis (AOF) mid-run",
        600,
        lost,
        duplicates,
        time.monotonic() - started,
        f"{restarted_at} done at the restart; workers reconnected by themselves",
    )

    assert lost == 0
    exited = [worker.output for worker in pool if worker.process.poll() is not None]
    if exited:
        (ROOT / "var").mkdir(exist_ok=True)
        (ROOT / "var" / "reliability-exited-workers.log").write_text("\n=====\n".join(exited))
    assert len(exited) == 0, "a worker exited; its log is in var/reliability-exited-workers.log"  # reconnected
    assert duplicates <= 2 * (2 + 2)
    assert broker_client.zcard("conveyor:dead") == 0  # a broker outage makes no job dead


def test_a_job_delayed_past_the_visibility_timeout_runs_exactly_once_across_a_worker_restart(
    rel_app: Any, records: redis.Redis, workers: Workers
) -> None:
    from tests.reliability.app import VISIBILITY_TIMEOUT, DelayedJob

    started = time.monotonic()
    [first] = workers.start(1)
    wait = VISIBILITY_TIMEOUT + 3  # 8 s: a Celery ETA message would be delivered again while it waits
    with enqueuing_through(rel_app):
        jobs = [DelayedJob.set(wait=wait).perform_later() for _ in range(20)]
    broker_client = redis.Redis.from_url(workers.broker.url)
    assert broker_client.zcard("conveyor:scheduled") == 20  # in Redis, not in a worker's memory:
    held = [m for key in broker_client.keys("rel*") for m in broker_client.lrange(key, 0, -1)]
    held += broker_client.hvals("unacked")  # what workers have taken
    assert [job.job_id for job in jobs if any(job.job_id.encode() in message for message in held)] == []

    time.sleep(1)  # the first worker polls for a while (nothing is due), then a deploy restarts it
    first.send()
    assert first.wait(timeout_s=30) == 0
    workers.start(2)  # two pollers race for each due job

    wait_until(lambda: len(runs(records)) == 20, wait + 20, message="every delayed job ran")
    time.sleep(VISIBILITY_TIMEOUT + 2)  # long enough for any redelivery to have happened
    counts = runs(records)
    report(
        "4. set(wait=vt+3 s) across a worker restart",
        20,
        20 - len(counts),
        sum(counts.values()) - len(counts),
        time.monotonic() - started,
        f"wait {wait:g} s, visibility timeout {VISIBILITY_TIMEOUT:g} s",
    )

    assert counts == {job.job_id: 1 for job in jobs}  # exactly once each
    assert broker_client.zcard("conveyor:scheduled") == 0


def test_poison_messages_go_to_the_dead_set_the_worker_goes_on_and_dead_retry_reruns_a_fixed_job(
    rel_app: Any, records: redis.Redis, workers: Workers
) -> None:
    import base64
    import json
    import subprocess
    import sys
    import uuid

    from tests.integration.services import ROOT
    from tests.reliability.app import FlakyJob, RecordJob

    started = time.monotonic()
    [worker] = workers.start(1)
    broker_client = redis.Redis.from_url(workers.broker.url)

    def push(task: str, body: bytes) -> str:
        job_id = str(uuid.uuid4())
        broker_client.lpush(
            "rel\x06\x165",
            json.dumps(
                {
                    "body": base64.b64encode(body).decode(),
                    "content-encoding": "utf-8",
                    "content-type": "application/json",
                    "headers": {
                        "lang": "py",
                        "task": task,
                        "id": job_id,
                        "retries": 0,
                        "root_id": job_id,
                        "parent_id": None,
                        "argsrepr": "()",
                        "kwargsrepr": "{}",
                        "eta": None,
                        "expires": None,
                        "group": None,
                        "timelimit": [None, None],
                        "ignore_result": True,
                    },
                    "properties": {
                        "correlation_id": job_id,
                        "delivery_mode": 2,
                        "priority": 5,
                        "body_encoding": "base64",
                        "delivery_info": {"exchange": "", "routing_key": "rel"},
                        "delivery_tag": job_id,
                    },
                }
            ),
        )
        return job_id

    poison = {
        "unknown task": push("tests.reliability.app.NoSuchJob", b"[[], {}, {}]"),
        "job module fails to import": push("tests.reliability.broken_job.BrokenJob", b"[[], {}, {}]"),
        "undecodable body": push("tests.reliability.app.DelayedJob", b"{not json"),
        "wrong argument count": push("tests.reliability.app.DelayedJob", b"[[1, 2, 3], {}, {}]"),
    }
    broker_client.lpush("rel\x06\x165", b"not a kombu message at all")
    with enqueuing_through(rel_app):
        flaky = FlakyJob.perform_later()
        after = RecordJob.perform_later(1)

    wait_until(lambda: records.sismember("done", after.job_id), 30, message="the worker went on to a good job")
    from conveyor.broker.dead.dead_set import DeadSet

    dead = DeadSet(broker_client)
    wait_until(lambda: dead.count() == 6, 10, message=f"6 dead records (have {dead.count()})")
    reasons = {record["id"]: record["reason"] for record in dead.list()}
    assert reasons[poison["unknown task"]].startswith("unknown job or task 'tests.reliability.app.NoSuchJob'")
    # A module the worker did not import is never imported because a message names it.
    assert reasons[poison["job module fails to import"]] == (
        "unknown job or task 'tests.reliability.broken_job.BrokenJob': no task of that name is registered on this "
        "worker (its module is not in the app's include list)"
    )
    assert reasons[poison["undecodable body"]].startswith("undecodable message: DecodeError")
    assert reasons[poison["wrong argument count"]] == "failed"
    assert dead.get(poison["wrong argument count"])["error"].startswith("TypeError: DelayedJob.perform() takes")  # type: ignore[index]
    assert reasons[flaky.job_id] == "failed"
    assert any(reason.startswith("unparsable message in queue rel") for reason in reasons.values())
    assert worker.process.poll() is None  # still consuming

    records.set("fixed", 1)  # the fix is deployed
    retried = subprocess.run(
        [sys.executable, "-m", "celery", "-A", "tests.reliability.app", "jobs", "dead", "retry", flaky.job_id],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert retried.stdout == f"Retried {flaky.job_id}\n", retried.stderr
    wait_until(lambda: runs(records).get(flaky.job_id) == 1, 30, message="the retried job ran")
    report(
        "5. poison messages, then dead retry of a fixed job",
        7,
        0,
        0,
        time.monotonic() - started,
        "4 bad messages + 1 unparsable entry + 1 failing job dead; worker kept consuming",
    )
    assert dead.get(flaky.job_id) is None


@pytest.mark.parametrize(("seconds", "outcome"), [(1.0, "finished"), (60.0, "returned to its queue")])
def test_sigterm_during_a_long_job_finishes_it_or_returns_it_to_its_queue(
    rel_app: Any, records: redis.Redis, workers: Workers, seconds: float, outcome: str
) -> None:
    from tests.reliability.app import SlowJob

    started = time.monotonic()
    [worker] = workers.start(1)  # REMAP_SIGTERM=SIGQUIT: SIGTERM is a cold shutdown after a 3 s soft shutdown
    with enqueuing_through(rel_app):
        job = SlowJob.perform_later(seconds, 0.2)  # a second run takes 0.2 s
    wait_until(lambda: records.hget("started", job.job_id) is not None, 30, message="the job started")

    signalled = time.monotonic()
    worker.send()  # SIGTERM, as a deploy or Kubernetes sends it
    assert worker.wait(timeout_s=30) == 0, worker.output[-3000:]
    stopped_after = time.monotonic() - signalled
    if outcome == "finished":
        assert records.hget("finished", job.job_id) == b"1"
    else:
        assert records.hget("finished", job.job_id) is None
        broker_client = redis.Redis.from_url(workers.broker.url)
        waiting = [m for key in broker_client.keys("rel*") for m in broker_client.lrange(key, 0, -1)]
        assert [job.job_id.encode() in m for m in waiting] == [True]  # back in its queue at once
        workers.start(1)
        wait_until(lambda: records.hget("finished", job.job_id) == b"1", 30, message="another worker finished it")
        assert records.hget("started", job.job_id) == b"2"
    report(
        f"6. SIGTERM during a {seconds:g} s job",
        1,
        0,
        0,
        time.monotonic() - started,
        f"{outcome}; the worker exited {stopped_after:.1f} s after SIGTERM",
    )
    assert stopped_after < 3 + 5  # the soft shutdown (3 s) and the exit
