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

import contextlib
import logging
import os
import sys
import time
import traceback
from importlib.machinery import PathFinder
from typing import Any

from celery.exceptions import WorkerShutdown, WorkerTerminate
from celery.worker.consumer import Consumer as CeleryConsumer

from conveyor.broker.dead.dead_set import DeadSet, raw_message
from conveyor.records import dead_record

__all__ = ["Consumer", "unknown_task_reason"]

logger = logging.getLogger("conveyor.broker.fetch.consumer")

# When this worker process started (this module is imported with the worker's app).
_STARTED = time.time()

# The worker is being stopped: that goes on whatever message is in hand.
_STOPPING = (WorkerShutdown, WorkerTerminate, KeyboardInterrupt)


def unknown_task_reason(app: Any, name: str) -> str:
    """Why no task ``name`` is registered on this worker, from what the worker already knows.

    The name comes from a message, so nothing is imported or looked up by it (a message
    naming ``venv.__main__.x`` would otherwise run that module in the worker): it is only
    compared with the app's configured ``include``/``imports`` modules.
    """
    module_name = name.rpartition(".")[0]
    configured = {str(module) for module in (*(app.conf.include or ()), *(app.conf.imports or ()))}
    written = _written_after_start(module_name, configured)
    if written is not None:
        return (
            f"unknown job or task {name!r}: {written} was written after this worker started (the worker started "
            "before this job existed): restart the worker"
        )
    if module_name and module_name in configured:
        return (
            f"unknown job or task {name!r}: {module_name} is in the app's include list but does not define it "
            "(if the job is new, the worker started before it existed: restart the worker)"
        )
    return (
        f"unknown job or task {name!r}: no task of that name is registered on this worker "
        "(its module is not in the app's include list)"
    )


def _written_after_start(module_name: str, configured: set[str]) -> str | None:
    """The file of ``module_name`` if it is new since this process started, in a package the app includes.

    Nothing is imported: only a package already imported that holds configured modules is
    searched, by file name, so a message cannot make the worker load anything.
    """
    package, _, leaf = module_name.rpartition(".")
    if not package or not leaf.isidentifier() or package not in {m.rpartition(".")[0] for m in configured}:
        return None
    parent = sys.modules.get(package)
    search = getattr(parent, "__path__", None)
    if search is None:
        return None
    spec = PathFinder.find_spec(leaf, list(search))
    if spec is None or not spec.origin or not os.path.isfile(spec.origin):
        return None
    return spec.origin if os.path.getmtime(spec.origin) > _STARTED else None


class Consumer(CeleryConsumer):  # type: ignore[misc]
    """Celery's consumer; messages it cannot run go to the dead set before it drops them."""

    def create_task_handler(self, *args: Any, **kwargs: Any) -> Any:
        handle = super().create_task_handler(*args, **kwargs)
        recoverable = tuple(self.connection_errors) + tuple(getattr(self, "channel_errors", ()))

        def on_task_received(message: Any) -> Any:
            # Celery reads the message's fields before any hook of ours runs; a field of an unexpected
            # type raises out of here and Celery stops the worker ("Unrecoverable error"), and every
            # worker after it, as long as the message is there. It goes to the dead set instead.
            try:
                return handle(message)
            except _STOPPING:
                raise
            except recoverable:
                raise  # the broker connection: Celery reconnects
            except (Exception, SystemExit) as exc:
                reason = f"the worker could not take this message: {type(exc).__name__}: {exc}"
                self._to_dead_set(message, reason, traceback.format_exc())
                with contextlib.suppress(Exception):
                    message.ack()  # recorded: it must not come back after the visibility timeout
                return None

        return on_task_received

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
        # Every field comes from the message and may be of any JSON type.
        headers = message.headers if isinstance(message.headers, dict) else {}
        properties = message.properties if isinstance(message.properties, dict) else {}
        delivery = message.delivery_info if isinstance(message.delivery_info, dict) else {}
        job_id = str(job_id or headers.get("id") or properties.get("correlation_id") or message.delivery_tag)
        retries = headers.get("retries")
        try:
            record = dead_record(
                job_id,
                reason,
                task=task or headers.get("task"),
                argsrepr=headers.get("argsrepr"),
                kwargsrepr=headers.get("kwargsrepr"),
                queue=delivery.get("routing_key"),
                priority=properties.get("priority"),
                backtrace=backtrace,
                attempts=(retries if type(retries) is int else 0) + 1,
                hostname=self.hostname,
                message=raw_message(message),
            )
            DeadSet.for_app(self.app).add(record)
        except Exception as exc:  # the dead set is a record, never a reason to stop consuming
            logger.error("conveyor: could not record a bad message in the dead set: %s: %s", type(exc).__name__, exc)
            return
        logger.error("conveyor: message %s for %s moved to the dead set: %s", job_id, record["task"], reason)
