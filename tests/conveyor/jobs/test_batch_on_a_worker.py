"""Batches on the real Redis with a real worker (solo pool, in a thread): callbacks once, counts exact.

Killed prefork workers and super fetch's redelivery are ``tests/reliability/test_batches.py``.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
import redis

from conveyor import Batch, Job, discard_on, perform_all_later, retry_on
from conveyor.broker.batches import DEAD, batch_key
from conveyor.keys import DEAD_KEY
from tests.jobs import Recorder

pytestmark = pytest.mark.redis

FIXED = threading.Event()


class Refused(Exception):
    pass


class BatchRowJob(Job):
    def perform(self, row: int) -> None:
        from tests.jobs import RECORDER

        RECORDER.add(event="row", row=row, batch=self.batch_id)


@discard_on(Refused)
class RefusedRowJob(Job):
    def perform(self, row: int) -> None:
        raise Refused(row)


@retry_on(Refused, wait=0.01, attempts=2, jitter=0)
class BrokenUntilFixedJob(Job):
    def perform(self, row: int) -> None:
        from tests.jobs import RECORDER

        if not FIXED.is_set():
            RECORDER.add(event="broken", row=row)
            raise Refused(row)
        RECORDER.add(event="row", row=row, batch=self.batch_id)


class Callback(Job):
    def perform(self, batch: Batch, event: str) -> None:
        from tests.jobs import RECORDER

        status = batch.status
        RECORDER.add(event=event, batch=batch.id, succeeded=status.succeeded, dead=status.dead)


class FailingCallback(Job):
    def perform(self, batch: Batch) -> None:
        from tests.jobs import RECORDER

        RECORDER.add(event="failing-callback", batch=batch.id)
        raise RuntimeError("the callback itself fails")


class GrowingJob(Job):
    """Adds ``more`` rows to its own batch, and a child batch of ``children`` rows."""

    def perform(self, more: int, children: int) -> None:
        from tests.jobs import RECORDER

        assert self.batch is not None
        with self.batch.jobs():
            perform_all_later([BatchRowJob(1000 + i) for i in range(more)])
        if children:
            child = Batch(description="child").on("success", Callback, "child-success")
            with child.jobs():
                perform_all_later([BatchRowJob(2000 + i) for i in range(children)])
            RECORDER.add(event="child", batch=child.id, parent=child.parent_id)


@pytest.fixture
def running(worker: Any, redis_client: redis.Redis, recorder: Recorder) -> Recorder:
    FIXED.clear()
    return recorder


def wait_until(condition: Any, what: str, timeout_s: float = 15.0) -> None:
    """Poll state the worker thread writes to Redis (the dead set is written after the job's end)."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out after {timeout_s} s waiting for {what}"
        time.sleep(0.05)


def with_callbacks(batch: Batch) -> Batch:
    return batch.on("success", Callback, "success").on("finish", Callback, "finish").on("discard", Callback, "discard")


def test_callbacks_run_once_after_every_job_and_the_counts_match(running: Recorder) -> None:
    batch = with_callbacks(Batch(description="Import 42", properties={"import_id": 42}))
    with batch.jobs():
        for row in range(5):
            BatchRowJob.perform_later(row)
        perform_all_later([BatchRowJob(row) for row in range(5, 20)])
        BatchRowJob.set(wait=0.2).perform_later(20)  # an ETA message, in the batch too
    running.wait_count("finish", 1)
    running.wait_count("success", 1)
    assert {record["row"] for record in running.of("row")} == set(range(21))
    assert {record["batch"] for record in running.of("row")} == {batch.id}
    [finish] = running.of("finish")
    assert (finish["batch"], finish["succeeded"], finish["dead"]) == (batch.id, 21, 0)
    status = Batch.find(batch.id).status
    assert (status.total, status.pending, status.succeeded, status.finished) == (21, 0, 21, True)
    assert set(status.fired) == {"success", "finish"}
    assert running.of("discard") == []
    assert Batch.find(batch.id).properties == {"import_id": 42}


def test_a_dead_job_finishes_the_batch_without_success_and_retry_dead_after_a_fix_runs_success_once(
    running: Recorder, redis_client: redis.Redis
) -> None:
    batch = with_callbacks(Batch())
    with batch.jobs():
        perform_all_later([BatchRowJob(1), BrokenUntilFixedJob(2)])
    running.wait_count("finish", 1)
    status = batch.status
    assert (status.succeeded, status.discarded, status.dead, status.retrying) == (1, 0, 1, 0)
    assert len(running.of("broken")) == 2  # both attempts, then the dead set
    assert len(running.of("discard")) == 1
    assert running.of("success") == []
    assert redis_client.zcard(DEAD_KEY) == 1
    # When the bug is fixed and the batch's dead jobs are sent again
    FIXED.set()
    assert batch.retry_dead() == 1
    running.wait_count("success", 1)
    status = batch.status
    assert (status.succeeded, status.discarded, status.dead, status.finished) == (2, 0, 0, True)
    # finish and discard ran once (they had); success once, now
    assert [len(running.of(event)) for event in ("finish", "discard", "success")] == [1, 1, 1]
    assert batch.retry_dead() == 0


def test_a_job_adding_100_jobs_and_a_child_batch_of_50_finish_before_the_parent_s_success(running: Recorder) -> None:
    batch = with_callbacks(Batch())
    with batch.jobs():
        perform_all_later([BatchRowJob(i) for i in range(49)] + [GrowingJob(100, 50)])
    running.wait_count("success", 1, timeout_s=60)
    [child] = running.of("child")
    assert child["parent"] == batch.id
    successes = running.of("success") + running.of("child-success")
    order = [record["batch"] for record in sorted(successes, key=lambda record: record["at"])]
    assert order == [child["batch"], batch.id]
    assert len(running.of("row")) == 49 + 100 + 50
    status = batch.status
    assert (status.total, status.succeeded, status.children) == (49 + 1 + 100 + 1, 151, 1)
    assert len(running.wait_count("finish", 1)) == 1
    assert len(running.of("success")) == 1


def test_50_threads_adding_jobs_to_an_open_batch_whose_first_jobs_end_do_not_finish_it_before_it_is_sealed(
    running: Recorder,
) -> None:
    batch = with_callbacks(Batch())
    with batch.jobs():
        BatchRowJob.perform_later(-1)
        running.wait_count("row", 1)  # a job of the batch already ended, the block still open

        def add(thread: int) -> None:
            with batch.jobs():
                for i in range(4):
                    BatchRowJob.perform_later(thread * 10 + i)

        threads = [threading.Thread(target=add, args=(n,)) for n in range(50)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        running.wait_count("row", 201, timeout_s=60)  # all ended while the first block is open
        assert not batch.status.finished
        assert running.of("finish") == []
    running.wait_count("finish", 1)
    assert batch.status.succeeded == 201
    assert len(running.wait_count("success", 1)) == 1


def test_a_batch_whose_only_job_is_discarded_finishes_and_runs_discard_and_finish_once(running: Recorder) -> None:
    batch = with_callbacks(Batch())
    with batch.jobs():
        RefusedRowJob.perform_later(1)
    running.wait_count("finish", 1)
    assert len(running.of("discard")) == 1
    assert running.of("success") == []
    assert batch.status.discarded == 1


def test_a_failing_callback_is_a_normal_job_in_the_dead_set_and_the_batch_recorded_it_sent_once(
    running: Recorder, redis_client: redis.Redis
) -> None:
    batch = Batch().on("finish", FailingCallback)
    with batch.jobs():
        BatchRowJob.perform_later(1)
    running.wait_count("failing-callback", 1)
    wait_until(lambda: redis_client.zcard(DEAD_KEY) == 1, "the failed callback in the dead set")
    assert list(batch.status.fired) == ["finish"]
    assert len(running.of("failing-callback")) == 1


def test_a_batch_s_keys_expire_and_its_members_are_ids_not_results(
    running: Recorder, redis_client: redis.Redis
) -> None:
    batch = Batch()
    with batch.jobs():
        job = BatchRowJob.perform_later(1)
        other = BatchRowJob.perform_later(2)
    wait_until(lambda: batch.status.finished, "the batch's end")
    key = batch_key(batch.id)
    for name in (key, key + ":jobs"):
        assert 0 < redis_client.ttl(name) <= 30 * 86400
    # the ended jobs' ids and states (and the placeholder that gives the hash its TTL from the start): no results
    assert redis_client.hgetall(key + ":jobs") == {b"_": b"", job.job_id.encode(): b"s", other.job_id.encode(): b"s"}
    assert not redis_client.exists(key + ":pending")  # emptied: nothing pending
    assert batch.members(DEAD)[DEAD] == []


def test_an_argument_that_cannot_travel_fails_the_bulk_enqueue_and_leaves_the_batch_as_it_was(
    running: Recorder,
) -> None:
    from conveyor import SerializationError

    batch = Batch()
    with batch.jobs():
        BatchRowJob.perform_later(1)
        with pytest.raises(SerializationError):
            perform_all_later([BatchRowJob(n) for n in range(2500)] + [BatchRowJob(object())])  # type: ignore[arg-type]
    # the 2,500 registered while the messages were built were taken back: nothing of them was sent
    running.wait_count("row", 1)
    wait_until(lambda: batch.status.finished, "the batch's end")
    assert (batch.status.total, batch.status.succeeded) == (1, 1)


class ParkedJob(Job):
    queue_as = "parked-batches"  # no worker consumes it: what is sent there stays

    def perform(self) -> None:
        pass


def test_retry_dead_of_a_child_makes_it_pending_in_its_parent_again(celery_app: Any, redis_client: redis.Redis) -> None:
    from conveyor.broker.dead.dead_set import DeadSet
    from conveyor.jobs.batch import batch_store
    from conveyor.jobs.batch_scope import running_in
    from conveyor.records import dead_record

    parent = Batch()
    with parent.jobs():
        reset = running_in(parent.id)  # as inside a job of the parent: a Batch made here is its child
        child = Batch()
        reset()
        with child.jobs():
            job = ParkedJob.perform_later()
    # Given the child's job died (kept in the dead set): the child, then its parent, finished
    DeadSet(redis_client).add(
        dead_record(job.job_id, "failed", task=job.serialize().task, queue="parked-batches", meta=job._header())
    )
    batch_store(celery_app).end(child.id, job.job_id, DEAD)
    assert parent.status.finished
    assert parent.members(DEAD)[DEAD] == [f"b:{child.id}"]
    # When the child's dead jobs are sent again: the child is pending in its parent, which is open again
    assert child.retry_dead() == 1
    assert (child.status.pending, child.status.finished) == (1, False)
    assert (parent.status.pending, parent.status.dead, parent.status.finished) == (1, 0, False)
