"""The records conveyor writes where other processes read them: the message header and dead-set records.

Everything here outlives the process that wrote it (a message waits in a queue across a
deploy, a dead record for 180 days), so each shape is defined once, typed, and changed
only compatibly: new keys are optional, old keys keep their meaning. The keys they are
stored under are ``conveyor.keys``.

Example::

    header = job_header(enqueued_at=now, scheduled_at=None, queue="default", priority=5,
                        exception_executions={})
    headers = {HEADER: header}                  # sent with the Celery message
    parse_job_header(request.conveyor)          # the same dict back, on the worker
"""

from __future__ import annotations

import datetime as dt
from typing import Any, NotRequired, TypedDict

__all__ = [
    "HEADER",
    "DeadRecord",
    "JobHeader",
    "RawMessage",
    "dead_record",
    "job_header",
    "parse_job_header",
]

#: The message header carrying a job's metadata (Celery exposes it as ``task.request.conveyor``).
HEADER = "conveyor"


class JobHeader(TypedDict):
    """The ``conveyor`` message header: a job's metadata beside Celery's own headers."""

    enqueued_at: str | None  # ISO 8601, UTC
    scheduled_at: str | None
    queue: str | None
    priority: int | None
    exception_executions: dict[str, int]  # per retry_on declaration, across retries
    error: NotRequired[str]  # on a retry: the error it is retried for (shown on the Retries page)
    attempt: NotRequired[list[int | None]]  # on a retry_on retry: [the attempt it waits for, of how many or null]
    # A continuable job's progress: {"completed": [step names], "current": [name, serialized cursor]}
    continuation: NotRequired[dict[str, Any]]
    resumptions: NotRequired[int]  # times a continuable job was resumed before this message
    batch: NotRequired[str]  # the id of the batch the job is in (conveyor.jobs.batch)


class RawMessage(TypedDict):
    """What of a kombu message is kept to publish it again (``body`` base64)."""

    body: str
    content_type: str | None
    content_encoding: str | None
    headers: dict[str, Any]


class DeadRecord(TypedDict):
    """One job in the dead set, as the CLI and the Flower page show it."""

    id: str
    task: str | None
    job_class: str
    queue: str | None
    reason: str
    error: str
    attempts: int
    failed_at: NotRequired[str]  # set by DeadSet.add
    priority: NotRequired[int | None]
    args: NotRequired[list[Any]]
    kwargs: NotRequired[dict[str, Any]]
    argsrepr: NotRequired[str | None]
    kwargsrepr: NotRequired[str | None]
    meta: NotRequired[JobHeader | dict[str, Any]]
    backtrace: NotRequired[str | None]
    hostname: NotRequired[str | None]
    message: NotRequired[RawMessage]  # the original message, for a retry that sends it as it was
    raw_entry: NotRequired[str]  # base64 of a list entry that was not a message at all


def job_header(
    enqueued_at: dt.datetime | None,
    scheduled_at: dt.datetime | None,
    queue: str | None,
    priority: int | None,
    exception_executions: dict[str, int],
    *,
    error: str | None = None,
    attempt: tuple[int, int | None] | None = None,
    progress: dict[str, Any] | None = None,
    resumptions: int = 0,
    batch: str | None = None,
) -> JobHeader:
    """The header for a job about to be sent (``error``: the retry's; ``progress``: a continuable job's)."""
    header: JobHeader = {
        "enqueued_at": enqueued_at.isoformat() if enqueued_at else None,
        "scheduled_at": scheduled_at.isoformat() if scheduled_at else None,
        "queue": queue,
        "priority": priority,
        "exception_executions": exception_executions,
    }
    if error is not None:
        header["error"] = error
    if attempt is not None:
        header["attempt"] = list(attempt)
    if progress is not None:  # a continuable job enqueued again with its progress
        header["continuation"], header["resumptions"] = progress, resumptions
    if batch is not None:
        header["batch"] = batch
    return header


def parse_job_header(value: Any) -> JobHeader:
    """The header as received; a missing or malformed one (a plain Celery sender) reads as empty."""
    raw: dict[str, Any] = value if isinstance(value, dict) else {}
    executions = raw.get("exception_executions")
    priority = raw.get("priority")
    return {
        "enqueued_at": _text(raw.get("enqueued_at")),
        "scheduled_at": _text(raw.get("scheduled_at")),
        "queue": _text(raw.get("queue")),
        "priority": priority if isinstance(priority, int) and not isinstance(priority, bool) else None,
        "exception_executions": dict(executions) if isinstance(executions, dict) else {},
        **({"error": raw["error"]} if isinstance(raw.get("error"), str) else {}),  # type: ignore[typeddict-item]
        **({"attempt": raw["attempt"]} if _attempt(raw.get("attempt")) else {}),  # type: ignore[typeddict-item]
        **_progress(raw),  # type: ignore[typeddict-item]
        **({"batch": raw["batch"]} if isinstance(raw.get("batch"), str) else {}),  # type: ignore[typeddict-item]
    }


def _attempt(value: Any) -> bool:
    counts = [type(v) is int for v in value] if isinstance(value, list) and len(value) == 2 else [False]
    return all(counts) or (counts[0] and value[1] is None)


def _progress(raw: dict[str, Any]) -> dict[str, Any]:
    if "continuation" not in raw:
        return {}
    progress, resumptions = raw["continuation"], raw.get("resumptions")
    return {
        "continuation": progress if isinstance(progress, dict) else {},
        "resumptions": resumptions if isinstance(resumptions, int) and not isinstance(resumptions, bool) else 0,
    }


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def dead_record(id: str, reason: str, *, error: str | None = None, **fields: Any) -> DeadRecord:
    """A dead-set record with the keys every reader relies on; ``fields`` add the optional ones.

    Example::

        dead_record("3c75…", "unknown job or task 'x.Y'", task="x.Y", queue="default")
    """
    task = fields.pop("task", None)
    if task is not None and not isinstance(task, str):  # a header of another type, kept readable
        task = repr(task)
    record: dict[str, Any] = {
        "id": str(id),
        "task": task,
        "job_class": fields.pop("job_class", None) or (task or "?").rpartition(".")[2],
        "queue": fields.pop("queue", None),
        "reason": reason,
        "error": error or reason,
        "attempts": int(fields.pop("attempts", 1)),
        **fields,
    }
    return record  # type: ignore[return-value]  # the optional keys are DeadRecord's
