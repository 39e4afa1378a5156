"""What Retry sends for a dead record, and what every reader may show of it.

``retry_plan`` decides from the stored message itself (task, content type, body, the control
headers sent again with it), so what the Dead page and ``jobs dead`` show is what is sent;
``resend`` publishes exactly that. A job with ``log_arguments = False`` keeps its arguments
filtered in the preview and in the CLI's JSON (``redacted``). A record whose control header
names a key outside its prefix (a forged message) is not sent again.

Example::

    plan = retry_plan(app, record)
    plan.retryable, plan.body_preview, plan.controls
    resend(app, record)                  # ConveyorError naming the refusal if not retryable
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from celery import Celery

from conveyor.broker.controls import LIMIT_HEADER, THROTTLE_HEADER, UNIQUE_HEADER, owned_key
from conveyor.errors import ConveyorError
from conveyor.keys import LIMIT_PREFIX, THROTTLE_PREFIX, UNIQUE_PREFIX
from conveyor.records import HEADER, parse_job_header
from conveyor.validation import validate_queue_name

__all__ = ["FILTERED", "RetryPlan", "arguments_hidden", "redacted", "resend", "retry_plan"]


#: What a job with ``log_arguments = False`` shows instead of its arguments, everywhere.
FILTERED = "[FILTERED]"

# The control headers a retry sends again with the message, and the prefix each key must have.
_CONTROL_HEADERS = {UNIQUE_HEADER: UNIQUE_PREFIX, LIMIT_HEADER: LIMIT_PREFIX, THROTTLE_HEADER: THROTTLE_PREFIX}


def arguments_hidden(record: dict[str, Any]) -> bool:
    """True for a job whose arguments are filtered (``log_arguments = False``): no reader shows them."""
    raw: dict[str, Any] = record["message"] if isinstance(record.get("message"), dict) else {}
    headers: dict[str, Any] = raw["headers"] if isinstance(raw.get("headers"), dict) else {}
    shown = headers.get("argsrepr") if headers.get("argsrepr") is not None else record.get("argsrepr")
    return isinstance(shown, str) and shown.startswith(FILTERED)


def redacted(record: dict[str, Any]) -> dict[str, Any]:
    """``record`` as the CLI's JSON and the pages may show it: filtered arguments stay filtered.

    Example::

        redacted({"id": "1", "argsrepr": "[FILTERED]", "args": ["s3cr3t"]})["args"]   # "[FILTERED]"
    """
    if not arguments_hidden(record):
        return record
    shown = {**record, "args": FILTERED, "kwargs": FILTERED}
    if isinstance(record.get("message"), dict):
        shown["message"] = {**record["message"], "body": FILTERED}
    return shown


@dataclass(frozen=True)
class RetryPlan:
    """What Retry would send for a dead record, as the page and the CLI show it; ``refusal`` says why not.

    ``controls`` are the conveyor control headers sent again with it (``conveyor_unique``…: their keys).
    """

    task: str | None
    queue: str
    content_type: str | None
    body_preview: str
    refusal: str | None = None
    controls: tuple[tuple[str, str], ...] = ()

    @property
    def retryable(self) -> bool:
        return self.refusal is None


def _registered_tasks(app: Celery) -> Any:
    # The app's own configured modules (include/imports), as a worker imports them at start: the CLI
    # and Flower have not. Nothing named by the record is imported. Once per app, not per record
    # (the Dead page plans up to 200 records per view).
    if not getattr(app, "_conveyor_modules_imported", False):
        app.loader.import_default_modules()
        app._conveyor_modules_imported = True
    return app.tasks


def retry_plan(app: Celery, record: dict[str, Any]) -> RetryPlan:
    """What ``resend`` would publish: only JSON messages of a task registered on ``app``, to a valid queue.

    The task, content type and body come from the stored message itself (not from the record's
    other fields), so what is shown is what is sent.
    """
    queue = record.get("queue") or app.conf.task_default_queue
    raw = record.get("message")
    headers: dict[str, Any] = {}
    if record.get("raw_entry"):
        return RetryPlan(None, queue, None, "", "it was not a message (nothing a worker could run): delete it")
    if raw:
        headers = raw.get("headers") if isinstance(raw.get("headers"), dict) else {}
        task, content_type = headers.get("task"), raw.get("content_type")
        try:
            body: str | None = base64.b64decode(raw.get("body") or "", validate=True).decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            body = None
    else:
        task, content_type = record.get("task"), "application/json"
        body = json.dumps([record.get("args") or [], record.get("kwargs") or {}], default=repr)
    text = body or ""
    preview = text if len(text) <= 200 else text[:197] + "..."
    if arguments_hidden(record):
        preview = f"{FILTERED} (log_arguments = False)"
    controls = tuple(
        (name, str(headers[name].get("key") if isinstance(headers[name], dict) else headers[name]))
        for name in _CONTROL_HEADERS
        if name in headers
    )
    forged = [
        name for name, prefix in _CONTROL_HEADERS.items() if name in headers and not owned_key(headers[name], prefix)
    ]
    refusal = None
    if content_type != "application/json":
        refusal = f"its body is {content_type or 'of no content type'}, not JSON: only JSON messages are sent again"
    elif body is None:
        refusal = "its body is not UTF-8 JSON text"
    elif not isinstance(task, str) or task not in _registered_tasks(app):
        refusal = f"{task!r} is not a job or task registered on this app"
    elif forged:
        refusal = f"its {', '.join(forged)} header names a key that is not conveyor's (a forged message): delete it"
    else:
        try:
            validate_queue_name(queue, "its queue", ConveyorError)
        except ConveyorError as exc:
            refusal = str(exc)
    return RetryPlan(task if isinstance(task, str) else None, str(queue), content_type, preview, refusal, controls)


def resend(app: Celery, record: dict[str, Any]) -> None:
    """Publish a dead job again, as ``retry_plan`` shows: its original message if kept, else one with its arguments."""
    plan = retry_plan(app, record)
    if plan.refusal is not None:
        raise ConveyorError(f"{record.get('id')} cannot be retried: {plan.refusal}")
    queue = plan.queue
    # Enqueued again now (as Sidekiq's retry from its dead set): the worker's "Performing … enqueued at"
    # line showed the first enqueue's time.
    now = dt.datetime.now(dt.UTC).isoformat()
    with app.producer_or_acquire(None) as producer:
        raw = record.get("message")
        if raw:
            headers = dict(raw.get("headers") or {})
            if isinstance(headers.get(HEADER), dict):
                headers[HEADER] = {**headers[HEADER], "enqueued_at": now}
            producer.publish(
                base64.b64decode(raw["body"]),
                exchange="",
                routing_key=queue,
                headers=headers,
                content_type=raw.get("content_type"),
                content_encoding=raw.get("content_encoding"),
                priority=record.get("priority"),
                declare=[app.amqp.queues[queue]],
                retry=True,
            )
            return
        meta = parse_job_header(record.get("meta"))
        meta["exception_executions"] = {}  # a person sent it again: every retry_on starts over
        meta["enqueued_at"] = now
        message = app.amqp.create_task_message(
            record["id"],
            record["task"],
            record.get("args") or [],
            record.get("kwargs") or {},
            retries=0,
            argsrepr=record.get("argsrepr"),
            kwargsrepr=record.get("kwargsrepr"),
            ignore_result=None,
        )
        options: dict[str, Any] = {"queue": queue, "headers": {HEADER: meta}}
        if record.get("priority") is not None:
            options["priority"] = record["priority"]
        app.amqp.send_task_message(producer, record["task"], message, **options)
