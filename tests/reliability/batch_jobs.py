"""Batch jobs the fault suite runs in real worker processes (imported by ``tests.reliability.app``).

Row jobs count their executions and record their success in the records Redis; a row told to fail
raises until the ``fixed`` key exists, through ``retry_on``'s attempts, then goes to the dead set.
Callbacks record the event, the batch and its counts when they ran.
"""

from __future__ import annotations

import json
import time

from conveyor import Batch, Job, retry_on
from tests.reliability.records import records


class RowBroken(RuntimeError):
    pass


@retry_on(RowBroken, wait=0.3, attempts=3, jitter=0)
class ImportRowJob(Job):
    queue_as = "rel"

    def perform(self, row: int, fails: bool = False, ms: int = 0) -> None:
        client = records()
        client.hincrby("executions", self.job_id, 1)
        if ms:
            time.sleep(ms / 1000)
        if fails and not client.exists("fixed"):
            raise RowBroken(f"row {row} is broken")
        client.sadd("done", self.job_id)


class BatchCallbackJob(Job):
    queue_as = "rel"

    def perform(self, batch: Batch, event: str) -> None:
        status = batch.status
        records().rpush("callbacks", json.dumps([event, batch.id, status.succeeded, status.dead, status.pending]))


class FanOutJob(Job):
    """Adds ``more`` rows to its own batch and opens a child batch of ``children`` rows (its parent: this
    job's batch), recording the child's id."""

    queue_as = "rel"

    def perform(self, more: int, children: int) -> None:
        from conveyor import perform_all_later

        assert self.batch is not None
        with self.batch.jobs():
            perform_all_later([ImportRowJob(10_000 + n) for n in range(more)])
        child = Batch(description="child").on("success", BatchCallbackJob, "child-success")
        with child.jobs():
            perform_all_later([ImportRowJob(20_000 + n) for n in range(children)])
        records().set("child", child.id)
