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

from conveyor.broker.batches import SUCCEEDED, check_batch_id, succeeded_at_ack
from conveyor.broker.fetch.acks import QoS
from conveyor.broker.fetch.poison import poison_reason
from conveyor.defaults import MAX_WORKER_DEATHS, WORKER_DEATHS_TTL_S
from conveyor.jobs.controlled_run import release_controls
from conveyor.keys import DEATHS_PREFIX
from conveyor.settings import redis_client

__all__ = ["JobRequest", "count_death", "record_success"]

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
    """Celery's request, with worker deaths counted before a job is sent again, and a batch job's success
    recorded with its acknowledgement (``conveyor.jobs.batch``): one script, no round trip of its own.
    """

    #: Set by on_success when the job returned: its acknowledgement (acks_late) then records the success.
    _conveyor_returned = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        # Celery's worker makes a subclass per task (celery.worker.request.create_request_cls) whose own
        # on_success acknowledges: wrap it, so that acknowledge() knows it follows a success.
        super().__init_subclass__(**kwargs)
        generated = cls.__dict__.get("on_success")
        if generated is not None:
            cls.on_success = _noting_success(generated)  # type: ignore[method-assign]

    def on_success(self, failed__retval__runtime: Any, **kwargs: Any) -> Any:
        self._conveyor_returned = not failed__retval__runtime[0]
        return super().on_success(failed__retval__runtime, **kwargs)

    def acknowledge(self) -> None:
        batch_id = _batch_of(self.message) if self._conveyor_returned and not self.acknowledged else None
        # A job that stores its result recorded its success itself (conveyor.jobs.execution._success_at_ack).
        if batch_id is not None and self.task.ignore_result:
            tag = str(self.message.delivery_tag)
            qos = getattr(getattr(self.message, "channel", None), "qos", None)
            if isinstance(qos, QoS) and tag in qos.claimed:
                # Celery sends the acknowledgement soon, from its loop: conveyor's QoS.ack takes this then.
                succeeded_at_ack(tag, batch_id, str(self.id))
            else:  # acknowledged by kombu's own code: recorded on its own, first
                record_success(self.task.app, batch_id, str(self.id))
        return super().acknowledge()  # type: ignore[no-any-return]

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


def _noting_success(on_success: Any) -> Any:
    def noted(self: JobRequest, failed__retval__runtime: Any, **kwargs: Any) -> Any:
        self._conveyor_returned = not failed__retval__runtime[0]
        return on_success(self, failed__retval__runtime, **kwargs)

    return noted


def _batch_of(message: Any) -> str | None:
    """The batch id in a message's ``conveyor`` header, if it is one (a header is data: checked)."""
    header = (getattr(message, "headers", None) or {}).get("conveyor")
    batch_id = header.get("batch") if isinstance(header, dict) else None
    try:
        return check_batch_id(batch_id) if batch_id is not None else None
    except ValueError:
        return None


def record_success(app: Any, batch_id: str, job_id: str) -> None:
    """A batch job's success, recorded on its own (its acknowledgement does not go through conveyor's fetch)."""
    from conveyor.jobs.batch import batch_store

    try:
        batch_store(app).end(batch_id, job_id, SUCCEEDED)
    except Exception as exc:
        logger.error("conveyor: could not record the success of job %s in batch %s: %s", job_id, batch_id, exc)
