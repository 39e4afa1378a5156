"""``async def perform`` in real worker processes: one loop per process, I/O concurrency, limits, faults.

Workers are started as the README's "Async jobs" section says: ``-P threads -c N`` for N jobs
awaiting I/O at once in one process, or the default prefork pool (one job at a time per child,
each child with its own loop). Jobs are in ``tests/reliability/async_jobs.py``.
"""

from __future__ import annotations

import signal
import time
from typing import Any

import pytest
import redis

from conveyor import perform_all_later
from tests.reliability.conftest import Workers, report, wait_until
from tests.reliability.test_faults import enqueuing_through

pytestmark = [pytest.mark.redis, pytest.mark.processes, pytest.mark.slow]


def where(records: redis.Redis) -> list[tuple[int, int, int, int]]:
    """(pid, loop id, client id, loop starts in that process) of each recorded run."""
    return [tuple(int(part) for part in value.split()) for value in records.hvals("where")]  # type: ignore[misc]


def test_200_async_jobs_awaiting_1_s_each_finish_within_3_s_on_one_threads_worker_and_one_loop(
    rel_app: Any, records: redis.Redis, workers: Workers
) -> None:
    from tests.reliability.async_jobs import AwaitingJob

    # Given one worker process, started as the README says for an async queue
    [worker] = workers.start(1, concurrency=200, pool="threads")
    # When 200 jobs that each await 1 s are enqueued
    with enqueuing_through(rel_app):
        sent = time.time()
        perform_all_later([AwaitingJob(1.0) for _ in range(200)])
    wait_until(lambda: records.scard("done") >= 200, 30, message=lambda: f"{records.scard('done')} of 200 done")
    # Then all are done within 3 s of the enqueue, each ran once, all on one process's one loop and client
    ended = max(float(value) for value in records.hvals("ended"))
    assert ended - sent <= 3.0, f"200 jobs took {ended - sent:.2f} s"
    assert set(records.hvals("runs")) == {b"1"}
    assert {(pid, loop, client, starts) for pid, loop, client, starts in where(records)} == {
        (worker.process.pid, *where(records)[0][1:3], 1)
    }
    report("async: 200 jobs x 1 s of I/O, one threads worker (-c 200)", 200, 0, 0, ended - sent, "one loop")


def test_a_loop_bound_client_made_once_per_child_serves_100_successive_jobs_in_a_prefork_worker(
    rel_app: Any, records: redis.Redis, workers: Workers
) -> None:
    from tests.reliability.async_jobs import AwaitingJob

    workers.start(1, concurrency=2)
    with enqueuing_through(rel_app):
        perform_all_later([AwaitingJob(0.005) for _ in range(100)])
    wait_until(lambda: records.scard("done") >= 100, 60, message=lambda: f"{records.scard('done')} of 100 done")
    runs = where(records)
    children = {pid for pid, *_ in runs}
    # one loop and one client per child, each made once, for every job of that child
    assert len(children) <= 2
    assert len({(pid, loop, client) for pid, loop, client, _ in runs}) == len(children)
    assert {starts for *_, starts in runs} == {1}
    assert set(records.hvals("runs")) == {b"1"}


@pytest.mark.parametrize("pool", ["prefork", "threads"])
def test_the_soft_limit_cancels_the_coroutine_runs_its_finally_and_retry_on_sends_it_again(
    rel_app: Any, records: redis.Redis, workers: Workers, pool: str
) -> None:
    from tests.reliability.async_jobs import AwaitingJob, SoftLimitedJob

    # prefork: billiard's signal in the child; threads: conveyor's own deadline (Celery enforces none there)
    [worker] = workers.start(1, concurrency=4, pool=pool)
    with enqueuing_through(rel_app):
        limited = SoftLimitedJob.perform_later()
        neighbour = AwaitingJob.perform_later(2.0)  # on the same loop under threads
    said = lambda: "the worker said:\n" + worker.output[-4000:]  # noqa: E731
    wait_until(lambda: records.sismember("done", limited.job_id), 30, message=said)
    wait_until(lambda: records.sismember("done", neighbour.job_id), 30, message=said)
    first_start = float(records.hget("attempt_started", f"{limited.job_id}:1") or 0)
    first_finally = float(records.hget("finally", f"{limited.job_id}:1") or 0)
    # cancelled at its await within the soft limit (1 s) + 1 s (threads: conveyor's deadline); under prefork
    # billiard looks at its timers once a second, so + 1 s more; its finally ran; the retry (attempt 2) succeeded
    assert 0 < first_finally - first_start <= (2.0 if pool == "threads" else 3.0)
    assert records.hexists("finally", f"{limited.job_id}:2")
    assert records.hget("runs", limited.job_id) == b"1"
    assert records.hget("runs", neighbour.job_id) == b"1"


def test_kill_9_of_a_worker_running_50_async_jobs_runs_all_50_again_and_loses_none(
    rel_app: Any, records: redis.Redis, workers: Workers
) -> None:
    from tests.reliability.async_jobs import AwaitingJob

    [first] = workers.start(1, concurrency=50, pool="threads")
    with enqueuing_through(rel_app):
        jobs = [AwaitingJob(5.0) for _ in range(50)]  # long enough for all 50 to be running at the kill
        perform_all_later(jobs)
    wait_until(lambda: records.scard("running") >= 50, 30, message=lambda: f"{records.scard('running')} of 50 running")
    started = time.monotonic()
    workers.kill9(first)
    assert records.scard("done") == 0  # none had finished: all 50 were in flight
    workers.start(1, concurrency=50, pool="threads")
    wait_until(lambda: records.scard("done") >= 50, 60, message=lambda: f"{records.scard('done')} of 50 done")
    lost = 50 - records.scard("done")
    assert set(records.hvals("runs")) == {b"1"}
    report("async: kill -9 of a threads worker running 50 async jobs", 50, lost, 0, time.monotonic() - started)


def test_a_warm_shutdown_lets_running_coroutines_finish_and_hands_the_rest_back(
    rel_app: Any, records: redis.Redis, workers: Workers
) -> None:
    from tests.reliability.async_jobs import AwaitingJob

    # Given a threads worker (-c 10) running 10 jobs of 2 s, with 20 more queued (some reserved)
    [first] = workers.start(1, concurrency=10, pool="threads", REMAP_SIGTERM="")
    with enqueuing_through(rel_app):
        perform_all_later([AwaitingJob(2.0) for _ in range(30)])
    wait_until(lambda: records.scard("running") >= 10, 30, message="10 jobs running")
    # When it is asked to stop (SIGTERM: Celery's warm shutdown)
    stopped_at = time.time()
    first.send(signal.SIGTERM)
    assert first.wait(60) == 0
    # Then the running ones finished after the signal, and nothing else ran there
    done = records.smembers("done")
    assert len(done) == 10, f"{len(done)} finished before the worker exited"
    assert all(float(records.hget("ended", job) or 0) > stopped_at for job in done)
    # and the other 20 were handed back: a new worker runs them, each once
    workers.start(1, concurrency=10, pool="threads")
    wait_until(lambda: records.scard("done") >= 30, 60, message=lambda: f"{records.scard('done')} of 30 done")
    assert set(records.hvals("runs")) == {b"1"}


def test_a_concurrency_limit_holds_for_async_jobs_on_a_threads_worker_with_more_threads_than_the_limit(
    rel_app: Any, records: redis.Redis, workers: Workers
) -> None:
    from tests.reliability.async_jobs import LimitedAsyncJob

    # Given 12 jobs limited to 2 at a time on one key, and a worker that could run 10 at once
    workers.start(1, concurrency=10, pool="threads")
    with enqueuing_through(rel_app):
        perform_all_later([LimitedAsyncJob("k", 0.3) for _ in range(12)])
    wait_until(lambda: records.scard("done") >= 12, 60, message=lambda: f"{records.scard('done')} of 12 done")
    # Then at no moment did more than two run
    spans = [tuple(float(t) for t in value.split()) for value in records.lrange("async-intervals:k", 0, -1)]
    events = sorted([(start, 1) for start, _ in spans] + [(end, -1) for _, end in spans], key=lambda e: (e[0], e[1]))
    running = peak = 0
    for _, change in events:
        running += change
        peak = max(peak, running)
    assert len(spans) == 12
    assert peak == 2


def test_an_async_job_that_fails_ends_in_the_dead_set_with_its_error_and_the_worker_goes_on(
    rel_app: Any, records: redis.Redis, workers: Workers
) -> None:
    from conveyor.broker.dead.dead_set import DeadSet
    from tests.reliability.async_jobs import AwaitingJob, FailingAsyncJob

    [worker] = workers.start(1, concurrency=4, pool="threads")
    with enqueuing_through(rel_app):
        failing = FailingAsyncJob.perform_later("the feed moved")
        after = AwaitingJob.perform_later(0.0)
    dead = DeadSet(redis.Redis.from_url(workers.broker.url))
    wait_until(lambda: dead.get(failing.job_id) is not None, 30, message=lambda: worker.output[-3000:])
    wait_until(lambda: records.sismember("done", after.job_id), 30, message="the next job never ran")
    record = dead.get(failing.job_id)
    assert record is not None
    assert "ValueError: the feed moved" in str(record)
    assert worker.process.poll() is None
