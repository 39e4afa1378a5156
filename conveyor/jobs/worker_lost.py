"""A job whose pool process died under it: run again, up to a point.

Under prefork a job runs in a pool child. When the child dies mid-job (OOM killer,
``kill -9``, a segfault in a C extension, ``os._exit``), Celery 5.7 with
``task_retry_on_worker_lost`` sends the job again. A job that kills its process every time
would then be sent forever. Here each such death counts towards the job's death count in
Redis, the same count the super fetch keeps when a whole worker dies holding a job
(``conveyor.broker.fetch.owners``); at MAX_WORKER_DEATHS the job is not sent again but fails into
the dead set with the reason "its worker died 3 times while running it".

Example::

    class JobTask(Task):
        Request = JobRequest     # conveyor.jobs.task does this
"""

from __future__ import annotations

import logging
from typing import Any

from celery.worker.request import Request

from conveyor.broker.fetch.poison import poison_reason
from conveyor.defaults import MAX_WORKER_DEATHS, WORKER_DEATHS_TTL_S
from conveyor.jobs.controlled_run import release_controls
from conveyor.keys import DEATHS_PREFIX
from conveyor.settings import redis_client

__all__ = ["JobRequest", "count_death"]

logger = logging.getLogger("conveyor.jobs.worker_lost")


def count_death(app: Any, job_id: str) -> int:
    """Add one to the job's death count and return it (0 if Redis cannot be reached)."""
    key = DEATHS_PREFIX + job_id
    try:
        client = redis_client(app)
        try:
            with client.pipeline(transaction=True) as pipe:
                pipe.incr(key)
                pipe.expire(key, int(WORKER_DEATHS_TTL_S))
                deaths, _ = pipe.execute()
        finally:
            client.close()
    except Exception as exc:  # the count is a guard, not a reason to lose the job: retry as Celery would
        logger.warning("conveyor: could not count the worker death of job %s: %s: %s", job_id, type(exc).__name__, exc)
        return 0
    return int(deaths)


class JobRequest(Request):  # type: ignore[misc]
    """Celery's request, with worker deaths counted before a job is sent again."""

    def _retry_worker_lost(self, exc: BaseException, exc_info: Any) -> bool:
        deaths = count_death(self.task.app, str(self.id))
        if deaths >= MAX_WORKER_DEATHS:
            # Not retried: Celery acknowledges, marks the failure and sends task_failure, which
            # writes the dead record (conveyor.jobs.failures) with this reason.
            exc._conveyor_reason = poison_reason(deaths)  # type: ignore[attr-defined]
            release_controls(self.task.app, getattr(self.message, "headers", None), str(self.id))
            logger.error("conveyor: job %s[%s]: %s; not run again", self.task_name, self.id, poison_reason(deaths))
            return False
        return bool(super()._retry_worker_lost(exc, exc_info))
