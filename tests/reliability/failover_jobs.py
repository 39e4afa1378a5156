"""Jobs the failover scenarios run in the service's own worker (``-I tests.reliability.failover_jobs``).

They record each run in a Redis that is not the one failing over (``RELIABILITY_RECORDS_URL``),
so a failover cannot lose the evidence: a run counted twice is a job started twice.
"""

from __future__ import annotations

import time

from conveyor import Job
from tests.reliability.records import records


class FailoverJob(Job):
    """Takes ``sleep_ms``, then records its run under its number (``runs``) and when it ended (``ended``)."""

    queue_as = "default"

    def perform(self, number: int, sleep_ms: int = 0) -> None:
        time.sleep(sleep_ms / 1000)
        with records().pipeline() as pipe:
            pipe.hincrby("runs", str(number), 1)
            pipe.zadd("ended", {str(number): time.time()})
            pipe.execute()


class FailoverCronJob(Job):
    """The schedule's entry: records each run (job id and when beat enqueued it) in ``cron``."""

    queue_as = "default"

    def perform(self) -> None:
        enqueued = self.enqueued_at.timestamp() if self.enqueued_at else 0.0
        records().rpush("cron", f"{self.job_id} {enqueued}")
