"""Says how a batch went once every job of it has ended: the finish callback of the service's batches."""

from __future__ import annotations

from conveyor import Batch, Job


class BatchSummaryJob(Job):
    """Log the batch's outcome (jobs sent, failed); returns the counts.

    Example::

        Batch(description="Notify 2500 users").on("finish", BatchSummaryJob)
    """

    queue_as = "low_priority"

    def perform(self, batch: Batch) -> dict[str, int]:
        status = batch.status
        failed = status.discarded + status.dead
        self.logger.info(
            "%s: %d of %d job(s) done, %d failed", status.description, status.succeeded, status.total, failed
        )
        return {"done": status.succeeded, "failed": failed}
