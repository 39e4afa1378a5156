"""The worker's message consumer, with bad input sent to the dead set instead of dropped.

Celery's consumer logs a message it cannot run and drops it: an unknown task name
(a typo, or a job whose module is not imported by this worker or fails to import),
an undecodable body, a message in no known format. conveyor's consumer
(``worker_consumer``, set by ``conveyor.configure``) first keeps each in the dead set
with the reason, and the original message so ``celery -A app jobs dead retry`` can
send it again once the cause is fixed. The worker keeps consuming either way.

A task name from a message is never imported: a job whose module the worker did not
import at start (not in the app's ``include`` list, or it failed to import then) is unknown.

Example (what the log says)::

    conveyor: message 3c75… for tasks.broken_job.BrokenJob moved to the dead set:
    unknown job or task 'tasks.broken_job.BrokenJob': no task of that name is registered on this worker ...
"""

from __future__ import annotations

import logging
import traceback
from typing import Any

from celery.worker.consumer import Consumer as CeleryConsumer

from conveyor.broker.dead_set import DeadSet, raw_message
from conveyor.wire import dead_record

__all__ = ["Consumer", "unknown_task_reason"]

logger = logging.getLogger("conveyor.broker.consumer")


def unknown_task_reason(app: Any, name: str) -> str:
    """Why no task ``name`` is registered on this worker, from what the worker already knows.

    The name comes from a message, so nothing is imported or looked up by it (a message
    naming ``venv.__main__.x`` would otherwise run that module in the worker): it is only
    compared with the app's configured ``include``/``imports`` modules.
    """
    module_name = name.rpartition(".")[0]
    configured = {str(module) for module in (*(app.conf.include or ()), *(app.conf.imports or ()))}
    if module_name and module_name in configured:
        return (
            f"unknown job or task {name!r}: {module_name} is in the app's include list but does not define it "
            "(if the job is new, the worker started before it existed: restart the worker)"
        )
    return (
        f"unknown job or task {name!r}: no task of that name is registered on this worker "
        "(its module is not in the app's include list)"
    )


class Consumer(CeleryConsumer):  # type: ignore[misc]
    """Celery's consumer; messages it cannot run go to the dead set before it drops them."""

    def on_unknown_task(self, body: Any, message: Any, exc: Exception) -> None:
        headers = message.headers or {}
        name = str(headers.get("task") or "?")
        self._to_dead_set(message, unknown_task_reason(self.app, name), None, task=name, job_id=headers.get("id"))
        super().on_unknown_task(body, message, exc)

    def on_unknown_message(self, body: Any, message: Any) -> None:
        self._to_dead_set(message, "not a task message (no task header, not Celery's format)", None)
        super().on_unknown_message(body, message)

    def on_invalid_task(self, body: Any, message: Any, exc: Exception) -> None:
        self._to_dead_set(message, f"invalid task message: {type(exc).__name__}: {exc}", traceback.format_exc())
        super().on_invalid_task(body, message, exc)

    def on_decode_error(self, message: Any, exc: Exception) -> None:
        self._to_dead_set(message, f"undecodable message: {type(exc).__name__}: {exc}", traceback.format_exc())
        super().on_decode_error(message, exc)

    def _to_dead_set(
        self, message: Any, reason: str, backtrace: str | None, task: str | None = None, job_id: str | None = None
    ) -> None:
        try:
            headers = message.headers if isinstance(message.headers, dict) else {}
            delivery = message.delivery_info or {}
            job_id = job_id or headers.get("id") or (message.properties or {}).get("correlation_id")
            job_id = str(job_id or message.delivery_tag)
            record = dead_record(
                job_id,
                reason,
                task=task or headers.get("task"),
                argsrepr=headers.get("argsrepr"),
                kwargsrepr=headers.get("kwargsrepr"),
                queue=delivery.get("routing_key"),
                priority=(message.properties or {}).get("priority"),
                backtrace=backtrace,
                attempts=int(headers.get("retries") or 0) + 1,
                hostname=self.hostname,
                message=raw_message(message),
            )
            DeadSet.for_app(self.app).add(record)
        except Exception as exc:  # the dead set is a record, never a reason to stop consuming
            logger.error("conveyor: could not record a bad message in the dead set: %s: %s", type(exc).__name__, exc)
            return
        logger.error("conveyor: message %s for %s moved to the dead set: %s", job_id, record["task"], reason)
