"""``conveyor.jobs.batch``: the Batch API under the test adapter (batches in memory), and its errors.

The same scenarios on Redis with a real worker are in ``test_batch_on_a_worker.py``; the store's
scripts in ``tests/conveyor/broker/test_batches.py``; killed workers in ``tests/reliability/test_batches.py``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from conveyor import Batch, Job, UnknownBatchError, discard_on, perform_all_later, retry_on
from conveyor.testing import EnqueuedJobs

SEEN: list[tuple[str, Any]] = []


class RowJob(Job):
    def perform(self, row: int) -> None:
        SEEN.append(("row", row))


class BadRow(Exception):
    pass


@discard_on(BadRow)
class DiscardedRowJob(Job):
    def perform(self, row: int) -> None:
        raise BadRow(row)


@retry_on(BadRow, wait=60, attempts=2)
class FlakyRowJob(Job):
    def perform(self, row: int) -> None:
        SEEN.append(("flaky", row))
        raise BadRow(row)


class SummaryJob(Job):
    def perform(self, batch: Batch, note: str = "") -> None:
        state = batch.status
        SEEN.append(("summary", (batch.id, state.succeeded, state.discarded, state.dead, note)))


class SucceededJob(Job):
    def perform(self, batch: Batch) -> None:
        SEEN.append(("success", batch.id))


class AlertJob(Job):
    def perform(self, batch: Batch) -> None:
        SEEN.append(("discard", batch.id))


class FanOutJob(Job):
    """Adds ``more`` rows to its own batch, and opens a child batch of ``children`` rows."""

    def perform(self, more: int, children: int) -> None:
        assert self.batch is not None
        with self.batch.jobs():
            perform_all_later([RowJob(100 + i) for i in range(more)])
        if children:
            child = Batch(description="child").on("success", SucceededJob)
            with child.jobs():
                for i in range(children):
                    RowJob.perform_later(200 + i)
            SEEN.append(("child", (child.id, child.parent_id)))


@pytest.fixture(autouse=True)
def _clear() -> None:
    SEEN.clear()


def events(name: str) -> list[Any]:
    return [value for event, value in SEEN if event == name]


def test_a_batch_s_jobs_are_enqueued_jobs_and_perform_all_runs_them_then_the_callbacks(
    enqueued_jobs: EnqueuedJobs,
) -> None:
    batch = Batch(description="Import 42", properties={"import_id": 42})
    batch.on("success", SucceededJob).on("finish", SummaryJob, note="done").on("discard", AlertJob)
    with batch.jobs():
        for row in range(3):
            RowJob.perform_later(row)
        perform_all_later([RowJob(3), RowJob(4)])
    # the jobs carry the batch; nothing ran, no callback yet
    assert [job.meta.get("batch") for job in enqueued_jobs.jobs] == [batch.id] * 5
    assert batch.status.pending == 5
    assert batch.status.state == "running"
    enqueued_jobs.perform_all()
    assert sorted(events("row")) == [0, 1, 2, 3, 4]
    assert events("success") == [batch.id]
    assert events("summary") == [(batch.id, 5, 0, 0, "done")]
    assert events("discard") == []
    status = batch.status
    assert (status.total, status.pending, status.succeeded, status.finished) == (5, 0, 5, True)
    assert set(status.fired) == {"success", "finish"}
    assert status.description == "Import 42"
    assert status.properties == {"import_id": 42}


def test_a_discarded_job_and_a_retried_one_finish_the_batch_once_and_success_never_fires(
    enqueued_jobs: EnqueuedJobs,
) -> None:
    batch = Batch().on("success", SucceededJob).on("finish", SummaryJob).on("discard", AlertJob)
    with batch.jobs():
        RowJob.perform_later(1)
        DiscardedRowJob.perform_later(2)
        DiscardedRowJob.perform_later(3)
    enqueued_jobs.perform_all()
    assert events("success") == []
    assert events("discard") == [batch.id]  # once, for the first of the two
    assert events("summary") == [(batch.id, 1, 2, 0, "")]


def test_a_job_retried_by_retry_on_stays_pending_until_its_last_attempt(enqueued_jobs: EnqueuedJobs) -> None:
    batch = Batch().on("finish", SummaryJob)
    with batch.jobs():
        FlakyRowJob.perform_later(1)
    # the first attempt fails and is retried: the batch waits, counting it as retrying
    enqueued_jobs.perform_all(at=dt.datetime.now(dt.UTC))  # the retry is due in a minute
    assert (batch.status.pending, batch.status.retrying, batch.status.finished) == (1, 1, False)
    # the second (last) attempt fails for good: the error reaches the test, the job is dead, the batch finished
    with pytest.raises(BadRow):
        enqueued_jobs.perform_all(only=FlakyRowJob)
    assert (batch.status.dead, batch.status.retrying, batch.status.finished) == (1, 0, True)
    enqueued_jobs.perform_all()
    assert events("summary") == [(batch.id, 0, 0, 1, "")]


def test_an_empty_batch_finishes_when_sealed_and_runs_success_and_finish(enqueued_jobs: EnqueuedJobs) -> None:
    batch = Batch().on("success", SucceededJob).on("finish", SummaryJob)
    with batch.jobs():
        pass
    assert batch.status.finished
    enqueued_jobs.perform_all()
    assert events("success") == [batch.id]
    assert events("summary") == [(batch.id, 0, 0, 0, "")]


def test_jobs_added_by_a_batch_job_and_a_child_batch_finish_before_the_parent(enqueued_jobs: EnqueuedJobs) -> None:
    batch = Batch().on("success", SucceededJob).on("finish", SummaryJob)
    with batch.jobs():
        FanOutJob.perform_later(3, 2)
    enqueued_jobs.perform_all()
    [(child_id, parent_id)] = events("child")
    assert parent_id == batch.id
    assert sorted(events("row")) == [100, 101, 102, 200, 201]
    # the child's success ran before the parent's (the parent finished only after its child)
    assert events("success") == [child_id, batch.id]
    # 1 fan-out + 3 rows + 1 child batch, all succeeded
    status = batch.status
    assert (status.total, status.succeeded, status.children) == (5, 5, 1)
    assert events("summary") == [(batch.id, 5, 0, 0, "")]


def test_cancel_is_seen_by_the_batch_s_jobs_and_success_never_fires(enqueued_jobs: EnqueuedJobs) -> None:
    batch = Batch().on("success", SucceededJob).on("finish", SummaryJob)
    with batch.jobs():
        RowJob.perform_later(1)
    batch.cancel()
    assert Batch.find(batch.id).cancelled
    enqueued_jobs.perform_all()
    assert batch.status.state == "finished"
    assert batch.status.cancelled
    assert events("success") == []
    assert len(events("summary")) == 1


def test_wrong_declarations_fail_at_on_and_unknown_ids_fail_at_find(enqueued_jobs: EnqueuedJobs) -> None:
    batch = Batch()
    with pytest.raises(ValueError, match="the events are 'success', 'finish', 'discard'"):
        batch.on("complete", SummaryJob)
    with pytest.raises(TypeError, match="a callback is a Job class"):
        batch.on("finish", print)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="a callback is a Job class"):
        batch.on("finish", dict)  # type: ignore[arg-type]
    with pytest.raises(TypeError):  # perform(self, batch) takes no "extra"
        batch.on("success", SucceededJob, extra=1)
    with pytest.raises(TypeError, match="JSON values"):
        Batch(properties={"when": object()})
    with pytest.raises(UnknownBatchError, match="no batch"):
        Batch.find("3f2c1a9e-0000-4000-8000-000000000000")
    with pytest.raises(ValueError, match="is not a batch id"):
        Batch.find("conveyor:dead")


def test_a_callback_declared_after_the_block_still_runs_and_async_enqueues_go_in_the_batch(
    enqueued_jobs: EnqueuedJobs,
) -> None:
    import asyncio

    from conveyor import aperform_all_later

    batch = Batch()

    async def enqueue() -> None:
        await RowJob.aperform_later(1)
        await aperform_all_later([RowJob(2), RowJob(3)])

    with batch.jobs():
        asyncio.run(enqueue())  # the send runs in a thread: the block's context goes with it
    batch.on("finish", SummaryJob, note="late")  # the batch exists: stored at once
    assert [job.meta.get("batch") for job in enqueued_jobs.jobs] == [batch.id] * 3
    enqueued_jobs.perform_all()
    assert events("summary") == [(batch.id, 3, 0, 0, "late")]


def test_a_job_enqueued_in_a_thread_the_block_started_is_not_in_the_batch_unless_that_thread_opens_one(
    enqueued_jobs: EnqueuedJobs,
) -> None:
    import threading

    batch = Batch()
    with batch.jobs():
        outside = threading.Thread(target=RowJob.perform_later, args=(1,))
        outside.start()
        outside.join()

        def inside() -> None:
            with batch.jobs():
                RowJob.perform_later(2)

        opened = threading.Thread(target=inside)
        opened.start()
        opened.join()
    assert [job.meta.get("batch") for job in enqueued_jobs.jobs] == [None, batch.id]
    assert batch.status.total == 1


class AddsThenFailsJob(Job):
    """Adds a row to its own batch, then fails for good (no retry_on): the block it opened counts nothing."""

    def perform(self) -> None:
        assert self.batch is not None
        with self.batch.jobs():
            RowJob.perform_later(7)
            raise BadRow("after adding")


def test_a_batch_job_that_fails_inside_its_own_block_leaves_nothing_open(enqueued_jobs: EnqueuedJobs) -> None:
    batch = Batch().on("finish", SummaryJob)
    with batch.jobs():
        AddsThenFailsJob.perform_later()
    with pytest.raises(BadRow):
        enqueued_jobs.perform_all(only=AddsThenFailsJob)
    enqueued_jobs.perform_all()
    status = batch.status
    assert (status.total, status.dead, status.succeeded, status.finished) == (2, 1, 1, True)
    assert events("summary") == [(batch.id, 1, 0, 1, "")]


def test_celery_s_ignore_ends_a_batch_job_as_discarded(enqueued_jobs: EnqueuedJobs) -> None:
    from celery.exceptions import Ignore

    class IgnoredJob(Job):
        def perform(self) -> None:
            raise Ignore()

    batch = Batch()
    with batch.jobs():
        IgnoredJob.perform_later()
    with pytest.raises(Ignore):
        enqueued_jobs.perform_all()
    assert (batch.status.discarded, batch.status.finished) == (1, True)


def test_a_cancelled_child_is_discarded_in_its_parent_and_a_callback_declared_after_the_end_is_refused(
    enqueued_jobs: EnqueuedJobs,
) -> None:
    class CancelsItsChildJob(Job):
        def perform(self) -> None:
            child = Batch(description="child")
            with child.jobs():
                RowJob.perform_later(1)
            child.cancel()

    parent = Batch().on("success", SucceededJob).on("discard", AlertJob)
    with parent.jobs():
        CancelsItsChildJob.perform_later()
    enqueued_jobs.perform_all()
    assert (parent.status.discarded, parent.status.finished) == (1, True)
    assert events("success") == []
    assert events("discard") == [parent.id]
    with pytest.raises(ValueError, match="has finished, so the callback would never run"):
        parent.on("finish", SummaryJob)
