"""What a job sends: ``job.serialize()``, the one form every way onto the broker starts from.

ActiveJob's adapters see ``job.serialize`` and nothing else of the job; here too. The Celery
adapter's single enqueue, the scheduled set, the ``@unique`` script and ``perform_all_later``'s
templates all build their message from a ``SerializedJob``, and the test adapter records one, so
no module outside the job reads the job's private state and the four paths cannot drift apart
(``tests/conveyor/jobs/test_bulk_template.py`` checks their bytes agree).

Example::

    job = ReportGenerationJob.set(queue="reports").perform_later(42)
    serialized = job.serialize()           # what the adapter sent
    serialized.args, serialized.queue      # ([42], 'reports'): as they travel
    serialized.header()                    # the ``conveyor`` message header
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Protocol

from conveyor.jobs.logs import LoggedJob
from conveyor.records import JobHeader, job_header

__all__ = ["Enqueueable", "SerializedJob"]


@dataclass(slots=True)  # not frozen: a frozen dataclass sets each of its 20 fields through object.__setattr__
class SerializedJob:
    """A job ready to send: its identity, destination, times, arguments as they travel, and controls.

    Arguments are already converted (``conveyor.serialization``): building one raises
    ``SerializationError`` naming a bad argument, before anything is sent.
    """

    #: The job class, for the test adapter and error messages (never sent: ``task`` names it).
    job_class: type
    job_id: str
    task: str
    queue: str | None
    priority: int | None
    executions: int
    enqueued_at: dt.datetime | None
    scheduled_at: dt.datetime | None
    #: As given to ``perform_later`` (for display: Flower's argsrepr, the test adapter).
    arguments: tuple[Any, ...]
    keyword_arguments: dict[str, Any]
    #: As they travel.
    args: list[Any]
    kwargs: dict[str, Any]
    #: The class's ``log_arguments`` (None: the app decides).
    log_arguments: bool | None
    exception_executions: dict[str, int]
    #: On a retry: the error it is retried for (the Retries page shows it).
    error: str | None
    #: On a retry_on retry: the attempt it waits for, of how many (None: unlimited).
    attempt: tuple[int, int | None] | None
    #: A continuable job's progress, its resumptions so far, and where it resumes (shown in Flower).
    progress: dict[str, Any] | None
    resumptions: int
    progress_note: str
    #: ``@unique`` / ``@limits_concurrency`` / ``@throttle`` headers, keys computed from the arguments.
    controls: dict[str, Any]
    #: The batch the job is in (``conveyor.jobs.batch``), or None.
    batch_id: str | None = None

    def header(self) -> JobHeader:
        """The ``conveyor`` message header (read back by ``Execution._from_message``)."""
        return job_header(
            self.enqueued_at,
            self.scheduled_at,
            self.queue,
            self.priority,
            self.exception_executions,
            error=self.error,
            attempt=self.attempt,
            progress=self.progress,
            resumptions=self.resumptions,
            batch=self.batch_id,
        )

    @property
    def label(self) -> str:
        """``ReportGenerationJob (Job ID: …)``, for error messages."""
        return f"{self.job_class.__qualname__} (Job ID: {self.job_id})"

    @property
    def templatable(self) -> bool:
        """True when only the id, arguments and enqueue time set it apart from its kind (the bulk templates)."""
        return (
            self.scheduled_at is None
            and not self.controls
            and not self.exception_executions
            and self.error is None
            and self.attempt is None
            and self.progress is None
        )

    @property
    def kind(self) -> tuple[Any, ...]:
        """Jobs of one kind share a bulk template (the batch id is in the template's header)."""
        return (self.job_class, self.queue, self.priority, self.executions, self.batch_id)


class Enqueueable(LoggedJob, Protocol):
    """What a queue adapter sees of a job: its serialized form, and where it records the outcome."""

    successfully_enqueued: bool | None
    duplicate_of: str | None

    def serialize(self) -> SerializedJob:
        """The job as it is sent."""
        ...
