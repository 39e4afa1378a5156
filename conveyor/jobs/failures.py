"""Jobs that failed for good go to the dead set: the ``task_failure`` receiver.

A job lands in the dead set when its ``retry_on`` attempts ran out or it raised an error
nothing handles (``conveyor.broker.dead.dead_set`` keeps the records). Broker errors around a
job (Redis away while Celery stores or acknowledges) are not the job's failure and are
not recorded. ``conveyor.configure`` connects this to Celery's ``task_failure`` signal.

Example::

    signals.task_failure.connect(record_task_failure, weak=False)
"""

from __future__ import annotations

import logging
import traceback as tb
from typing import Any

from conveyor.broker.batches import DEAD, check_batch_id
from conveyor.broker.dead.dead_set import BROKER_ERRORS, DeadSet
from conveyor.defaults import is_redis_url
from conveyor.jobs.batch import batch_store
from conveyor.jobs.task import JobTask
from conveyor.records import HEADER, DeadRecord, dead_record, parse_job_header

__all__ = ["record_task_failure"]

logger = logging.getLogger("conveyor.jobs.failures")


def _record(
    task: JobTask, task_id: str, reason: str, error: str, exception: BaseException, args: Any, kwargs: Any, einfo: Any
) -> DeadRecord:
    # The request comes from the message: any of its fields may be missing or of another type.
    request = task.request
    delivery = request.delivery_info if isinstance(request.delivery_info, dict) else {}
    meta = parse_job_header(getattr(request, HEADER, None))
    retries = getattr(request, "retries", 0)
    return dead_record(
        str(task_id),
        reason,
        error=error,
        task=task.name,
        job_class=task.job_class.__qualname__,
        args=list(args) if isinstance(args, list | tuple) else [],
        kwargs=dict(kwargs) if isinstance(kwargs, dict) else {},
        argsrepr=getattr(request, "argsrepr", None),
        kwargsrepr=getattr(request, "kwargsrepr", None),
        queue=delivery.get("routing_key") or meta["queue"],
        priority=delivery.get("priority"),
        meta=meta,
        backtrace=str(einfo.traceback) if einfo is not None else "".join(tb.format_exception(exception)),
        attempts=(retries if isinstance(retries, int) else 0) + 1,
        hostname=getattr(request, "hostname", None),
    )


def record_task_failure(
    sender: Any = None,
    task_id: str = "",
    exception: BaseException | None = None,
    args: Any = None,
    kwargs: Any = None,
    einfo: Any = None,
    **_: Any,
) -> None:
    """``task_failure`` receiver: a job that failed for good goes to the dead set.

    Never raises: a dead set that cannot be written is logged, the job's own failure stands.
    """
    task = sender
    if not isinstance(task, JobTask) or exception is None or not is_redis_url(task.app.conf.broker_url):
        return
    reason = getattr(exception, "_conveyor_reason", None)
    if reason is None and isinstance(exception, BROKER_ERRORS):
        # Not the job's error: Celery could not store or acknowledge around it while Redis was
        # away. The message is still unacknowledged, or the job ran; it is not dead.
        logger.warning(
            "conveyor: job %s hit a broker error outside its perform (%s: %s); not a dead job",
            task_id,
            type(exception).__name__,
            exception,
        )
        return
    reason = reason or "failed in Celery, outside the job"
    error = f"{type(exception).__name__}: {exception}"
    try:
        record = _record(task, task_id, reason, error, exception, args, kwargs, einfo)
    except Exception as exc:  # a message with odd headers must still leave a record, if a smaller one
        logger.error(
            "conveyor: job %s: a full dead record could not be built (%s: %s)", task_id, type(exc).__name__, exc
        )
        record = dead_record(str(task_id), reason, error=error, task=task.name, job_class=task.job_class.__qualname__)
    try:
        DeadSet.for_app(task.app).add(record)
    except Exception as exc:
        logger.error("conveyor: could not add job %s to the dead set: %s: %s", task_id, type(exc).__name__, exc)
        return
    _dead_in_batch(task, str(task_id))
    logger.warning("conveyor: %s (Job ID: %s) moved to the dead set: %s", record["job_class"], task_id, record["error"])


def _dead_in_batch(task: JobTask, job_id: str) -> None:
    """A dead job of a batch is dead there too. The job's own execution recorded it already when it ran to
    its end; a job whose pool process died under it for the last time (``conveyor.jobs.worker_lost``) or
    that hit its hard time limit did not: this records it (keyed by job id: once either way)."""
    batch_id = parse_job_header(getattr(task.request, HEADER, None)).get("batch")
    if batch_id is None:
        return
    try:
        batch_store(task.app).end(check_batch_id(batch_id), job_id, DEAD)
    except Exception as exc:  # a forged id names no key; Redis away: the batch waits, the job stays dead
        logger.error(
            "conveyor: could not record dead job %s in batch %r: %s: %s", job_id, batch_id, type(exc).__name__, exc
        )
