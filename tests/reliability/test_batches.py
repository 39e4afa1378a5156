"""Batches on real prefork workers: callbacks exactly once and exact counts, with retries, the dead set,
``retry_dead()``, and a worker killed with -9 whose jobs super fetch delivers again.

Jobs are in ``tests/reliability/batch_jobs.py``.
"""

from __future__ import annotations

import json
import random
import time
from collections import Counter
from typing import Any

import pytest
import redis

from conveyor import Batch, perform_all_later
from conveyor.keys import DEAD_KEY
from tests.reliability.conftest import Workers, report, wait_until
from tests.reliability.test_faults import enqueuing_through

pytestmark = [pytest.mark.redis, pytest.mark.processes, pytest.mark.slow]

ROWS, FAILING = 1000, 10


def callbacks(records: redis.Redis) -> list[list[Any]]:
    return [json.loads(entry) for entry in records.lrange("callbacks", 0, -1)]


def fired(records: redis.Redis) -> Counter[str]:
    return Counter(event for event, *_ in callbacks(records))


def drained(broker: redis.Redis) -> bool:
    """Nothing queued, scheduled or unacknowledged: no callback can still be on its way."""
    queued = sum(broker.llen(key) for key in broker.keys("rel*"))
    return queued == 0 and broker.zcard("conveyor:scheduled") == 0 and broker.hlen("unacked") == 0


def import_batch(rel_app: Any) -> tuple[Batch, set[int]]:
    """1,000 row jobs in a batch, 10 of which fail until fixed (3 attempts each, then dead); 5 wait 1.5 s
    in the scheduled set first (set(wait=...) above the app's 1 s threshold)."""
    failing = set(random.sample(range(ROWS), FAILING))
    with enqueuing_through(rel_app):
        batch = Batch(description="Import 42", properties={"import_id": 42})
        for event in ("success", "finish", "discard"):
            batch.on(event, _callback(), event)
        with batch.jobs():
            rows = [_row()(row, row in failing, 5) for row in range(ROWS)]
            perform_all_later([*rows[:-5], *(row.set(wait=1.5) for row in rows[-5:])])
    return batch, failing


def _row() -> Any:
    from tests.reliability.batch_jobs import ImportRowJob

    return ImportRowJob


def _callback() -> Any:
    from tests.reliability.batch_jobs import BatchCallbackJob

    return BatchCallbackJob


def finish_then_fix_and_retry_dead(rel_app: Any, records: redis.Redis, broker: redis.Redis, batch: Batch) -> None:
    """Wait for finish; check the counts; fix the rows and retry_dead(); success once, nothing twice."""
    wait_until(lambda: fired(records)["finish"] >= 1, 90, message=lambda: f"callbacks so far: {callbacks(records)}")
    wait_until(lambda: drained(broker), 30, message="the queues drained")
    with enqueuing_through(rel_app):
        status = Batch.find(batch.id).status
    assert (status.total, status.succeeded, status.dead, status.pending, status.retrying) == (ROWS, 990, 10, 0, 0)
    assert fired(records) == {"finish": 1, "discard": 1}  # success never: 10 jobs are dead
    [finish] = [entry for entry in callbacks(records) if entry[0] == "finish"]
    assert finish[1:] == [batch.id, 990, 10, 0]
    assert broker.zcard(DEAD_KEY) == FAILING
    # When the rows are fixed and the batch's dead jobs sent again
    records.set("fixed", 1)
    with enqueuing_through(rel_app):
        assert batch.retry_dead() == FAILING
    wait_until(lambda: fired(records)["success"] >= 1, 60, message=lambda: f"callbacks so far: {callbacks(records)}")
    wait_until(lambda: drained(broker), 30, message="the queues drained")
    assert fired(records) == {"finish": 1, "discard": 1, "success": 1}
    with enqueuing_through(rel_app):
        status = Batch.find(batch.id).status
    assert (status.succeeded, status.dead, status.pending) == (ROWS, 0, 0)
    assert records.scard("done") == ROWS


def test_1000_jobs_10_dead_after_their_retries_finish_once_discard_once_and_success_once_after_retry_dead(
    rel_app: Any, records: redis.Redis, workers: Workers
) -> None:
    broker = redis.Redis.from_url(rel_app.conf.broker_url)
    workers.start(2, concurrency=4)
    started = time.monotonic()
    batch, _failing = import_batch(rel_app)
    finish_then_fix_and_retry_dead(rel_app, records, broker, batch)
    executions = {key.decode(): int(value) for key, value in records.hgetall("executions").items()}
    # each failing row ran 3 times (its retry_on attempts) and once more after the fix; the others once
    assert sorted(executions.values()).count(4) == FAILING
    assert sorted(executions.values()).count(1) == ROWS - FAILING
    report("batch: 1,000 jobs, 10 dead, retry_dead()", ROWS, 0, 0, time.monotonic() - started, "callbacks once each")


def test_kill_9_of_one_of_three_workers_mid_batch_every_callback_once_and_no_job_counted_twice(
    rel_app: Any, records: redis.Redis, workers: Workers
) -> None:
    broker = redis.Redis.from_url(rel_app.conf.broker_url)
    first, *_ = workers.start(3, concurrency=2)
    started = time.monotonic()
    batch, _failing = import_batch(rel_app)
    wait_until(lambda: records.scard("done") >= 300, 60, message=lambda: f"{records.scard('done')} done")
    workers.kill9(first)  # its running and claimed jobs come back through super fetch
    finish_then_fix_and_retry_dead(rel_app, records, broker, batch)
    executions = [int(value) for value in records.hvals("executions")]
    again = sum(1 for count in executions if count > 1) - FAILING
    report(
        "batch: kill -9 of 1 of 3 workers mid-batch",
        ROWS,
        0,
        0,
        time.monotonic() - started,
        f"{max(again, 0)} job(s) ran again after the kill; counted once each; callbacks once each",
    )


def test_a_job_adding_100_jobs_and_a_child_batch_of_50_in_a_batch_of_50_the_parent_succeeds_after_both_once(
    rel_app: Any, records: redis.Redis, workers: Workers
) -> None:
    from tests.reliability.batch_jobs import FanOutJob

    broker = redis.Redis.from_url(rel_app.conf.broker_url)
    workers.start(2, concurrency=2)
    with enqueuing_through(rel_app):
        batch = Batch(description="parent").on("success", _callback(), "success")
        with batch.jobs():
            perform_all_later([*(_row()(n) for n in range(49)), FanOutJob(100, 50)])
    wait_until(lambda: fired(records)["success"] >= 1, 60, message=lambda: f"callbacks: {callbacks(records)}")
    wait_until(lambda: drained(broker), 30, message="the queues drained")
    assert fired(records) == {"child-success": 1, "success": 1}
    with enqueuing_through(rel_app):
        status = Batch.find(batch.id).status
        child = Batch.find(records.get("child").decode()).status  # type: ignore[union-attr]
    assert child.parent == batch.id
    assert child.fired["success"] <= status.fired["success"]  # the child's success was pushed first
    # 49 rows + the fan-out job + its 100 rows + the child batch; the child's 50 rows in the child
    assert (status.total, status.succeeded, status.children, status.pending) == (151, 151, 1, 0)
    assert records.scard("done") == 49 + 100 + 50
