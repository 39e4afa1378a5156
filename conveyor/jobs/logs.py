"""Log lines in ActiveJob's words, every record tagged with the job class and job id.

Records go to the ``conveyor`` logger and carry ``job_class`` and ``job_id``
attributes (usable in a formatter as ``%(job_class)s``); the message starts
with ``[JobClass] [job id]``. ``self.logger`` inside a job tags the same way.
A job with ``log_arguments = False`` (or an app with ``conveyor_log_arguments
= False``) logs no arguments.

Example lines::

    [ReportGenerationJob] [4f0c…] Enqueued ReportGenerationJob (Job ID: 4f0c…) to low_priority with arguments: 42
    [ReportGenerationJob] [4f0c…] Performed ReportGenerationJob (Job ID: 4f0c…) from low_priority in 12.31 ms
    [ReportGenerationJob] [4f0c…] Retrying ReportGenerationJob (Job ID: 4f0c…) in 5.00 seconds
        due to ConnectionError: refused (attempt 2/3)
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import MutableMapping
from typing import Any, Protocol

__all__ = ["JobLogger", "LoggedJob", "logger", "one_line", "printable"]

logger = logging.getLogger("conveyor")


class JobLogger(logging.LoggerAdapter):  # type: ignore[type-arg]
    """A logger adapter that prefixes and tags each record with the job class and job id.

    Example::

        self.logger.info("Starting job %s", self.job_id)
        # [DataProcessingJob] [4f0c…] Starting job 4f0c…
    """

    def __init__(self, base: logging.Logger, job_class: str, job_id: str | None) -> None:
        super().__init__(base, {"job_class": job_class, "job_id": job_id})
        self._prefix = f"[{job_class}] [{one_line(job_id)}] "

    def process(self, msg: Any, kwargs: MutableMapping[str, Any]) -> tuple[Any, MutableMapping[str, Any]]:
        kwargs["extra"] = {**(self.extra or {}), **kwargs.get("extra", {})}
        return self._prefix + str(msg), kwargs

    def log(self, level: int, msg: Any, *args: Any, **kwargs: Any) -> None:
        # A job id, queue or error text comes from a message (an exception's text often quotes an
        # argument): it cannot add a forged line to the log. The traceback (exc_info) keeps its lines.
        # Escaped only for a record that is emitted (nothing is done for a level that is off).
        if self.isEnabledFor(level):
            escaped = (one_line(arg) if isinstance(arg, str | BaseException) else arg for arg in args)
            super().log(level, msg, *escaped, **kwargs)


# C0 and C1 control characters, escaped (newline and carriage return by name).
_ESCAPES = {code: f"\\x{code:02x}" for code in [*range(0x20), *range(0x7F, 0xA0)]} | {0x0A: "\\n", 0x0D: "\\r"}
_KEEPING_LINES = {code: text for code, text in _ESCAPES.items() if chr(code) not in "\n\t"}


def one_line(value: object) -> str:
    """``str(value)`` with control characters escaped, so a forged id cannot start a log line of its own.

    Example::

        one_line("4f0c\nINFO forged")   # '4f0c\\nINFO forged'
    """
    return str(value).translate(_ESCAPES)


def printable(value: object) -> str:
    """``str(value)`` with control characters but newline and tab escaped (``\x1b[2J`` prints as text).

    For text shown on an operator's terminal: it may span lines, never move the cursor or recolour it.

    Example::

        printable("boom\x1b[2J")   # 'boom\\x1b[2J'
    """
    return str(value).translate(_KEEPING_LINES)


class LoggedJob(Protocol):
    """What a log line reads of a job (every Job is one; the logs sit below the job's mixins)."""

    job_id: str
    arguments: tuple[Any, ...]
    keyword_arguments: dict[str, Any]
    queue_name: str | None
    enqueued_at: dt.datetime | None
    scheduled_at: dt.datetime | None
    duplicate_of: str | None
    resumptions: int

    def _arguments_repr(self) -> str: ...
    def _logs_arguments(self) -> bool: ...


class _Arguments:
    """Formats a job's arguments only when the record is emitted."""

    __slots__ = ("job",)

    def __init__(self, job: LoggedJob) -> None:
        self.job = job

    def __str__(self) -> str:
        return self.job._arguments_repr()


def _tagged(job: LoggedJob) -> JobLogger:
    return JobLogger(logger, type(job).__name__, job.job_id)


def _with_arguments(job: LoggedJob) -> bool:
    return bool(job.arguments or job.keyword_arguments) and job._logs_arguments()


def enqueued(job: LoggedJob) -> None:
    if not logger.isEnabledFor(logging.INFO):
        return
    name = type(job).__name__
    when = f" at {job.scheduled_at.isoformat()}" if job.scheduled_at else ""
    if _with_arguments(job):
        _tagged(job).info(
            "Enqueued %s (Job ID: %s) to %s%s with arguments: %s",
            name,
            job.job_id,
            job.queue_name,
            when,
            _Arguments(job),
        )
    else:
        _tagged(job).info("Enqueued %s (Job ID: %s) to %s%s", name, job.job_id, job.queue_name, when)


def duplicate(job: LoggedJob) -> None:
    _tagged(job).info(
        "Did not enqueue %s (Job ID: %s): a duplicate of job %s, which holds its @unique lock",
        type(job).__name__,
        job.job_id,
        job.duplicate_of,
    )


def enqueue_halted(job: LoggedJob) -> None:
    _tagged(job).info(
        "Failed enqueuing %s to %s: a before_enqueue or around_enqueue callback halted the enqueuing",
        type(job).__name__,
        job.queue_name,
    )


def performing(job: LoggedJob) -> None:
    if not logger.isEnabledFor(logging.INFO):
        return
    name, job_id, queue = type(job).__name__, job.job_id, job.queue_name
    enqueued_at = f" enqueued at {job.enqueued_at.isoformat()}" if job.enqueued_at else ""
    if _with_arguments(job):
        _tagged(job).info(
            "Performing %s (Job ID: %s) from %s%s with arguments: %s",
            name,
            job_id,
            queue,
            enqueued_at,
            _Arguments(job),
        )
    else:
        _tagged(job).info("Performing %s (Job ID: %s) from %s%s", name, job_id, queue, enqueued_at)


def performed(job: LoggedJob, duration_ms: float) -> None:
    if not logger.isEnabledFor(logging.INFO):
        return
    _tagged(job).info(
        "Performed %s (Job ID: %s) from %s in %.2f ms", type(job).__name__, job.job_id, job.queue_name, duration_ms
    )


def perform_halted(job: LoggedJob) -> None:
    _tagged(job).info(
        "Halted %s (Job ID: %s): a before_perform or around_perform callback halted the job",
        type(job).__name__,
        job.job_id,
    )


def perform_error(job: LoggedJob, error: BaseException, duration_ms: float) -> None:
    _tagged(job).error(
        "Error performing %s (Job ID: %s) from %s in %.2f ms: %s: %s",
        type(job).__name__,
        job.job_id,
        job.queue_name,
        duration_ms,
        type(error).__name__,
        error,
        exc_info=error,
    )


def retrying(job: LoggedJob, wait_s: float, error: BaseException, attempt: int, attempts: int | None) -> None:
    _tagged(job).info(
        "Retrying %s (Job ID: %s) in %.2f seconds due to %s: %s (attempt %d/%s)",
        type(job).__name__,
        job.job_id,
        wait_s,
        type(error).__name__,
        error,
        attempt + 1,
        "unlimited" if attempts is None else attempts,
    )


def discarded(job: LoggedJob, error: BaseException) -> None:
    _tagged(job).warning(
        "Discarded %s (Job ID: %s) due to %s: %s", type(job).__name__, job.job_id, type(error).__name__, error
    )


def retry_stopped(job: LoggedJob, error: BaseException, attempts: int) -> None:
    _tagged(job).error(
        "Stopped retrying %s (Job ID: %s) due to %s: %s, which reoccurred on %d attempts",
        type(job).__name__,
        job.job_id,
        type(error).__name__,
        error,
        attempts,
    )


def hook_failed(job: LoggedJob, hook: str, error: BaseException) -> None:
    _tagged(job).exception(
        "after_discard hook %s of %s raised %s", hook, type(job).__name__, type(error).__name__, exc_info=error
    )


def resuming(job: LoggedJob, description: str) -> None:
    _tagged(job).info(
        "Resuming %s (Job ID: %s) %s (resumption %d)", type(job).__name__, job.job_id, description, job.resumptions
    )


def interrupted(job: LoggedJob, description: str, reason: BaseException, wait_s: float) -> None:
    name = type(job).__name__
    if reason.__class__.__name__ == "Interrupt":
        _tagged(job).info(
            "Interrupted %s (Job ID: %s) %s: its worker is stopping; enqueued again with its progress",
            name,
            job.job_id,
            description,
        )
        return
    _tagged(job).warning(
        "%s (Job ID: %s) raised %s: %s %s after making progress; resuming in %.2f seconds",
        name,
        job.job_id,
        type(reason).__name__,
        reason,
        description,
        wait_s,
    )


def step_event(job: LoggedJob, message: str) -> None:
    """A continuable job's step started, resumed, completed or was skipped."""
    if logger.isEnabledFor(logging.INFO):
        _tagged(job).info("%s", message)
