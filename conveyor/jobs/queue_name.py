"""Which queue a job goes to: ``queue_as`` on the class, ``set(queue=...)`` per call.

Resolution order: ``set(queue=...)`` > ``queue_as`` > the app's ``task_default_queue``.
``queue_as`` is a queue name, or a callable ``(job) -> name`` evaluated at
enqueue (the job's ``arguments`` are set by then).

Example::

    class ReportGenerationJob(Job):
        queue_as = "low_priority"

    class ImportJob(Job):
        queue_as = staticmethod(lambda job: "bulk" if len(job.arguments[0]) > 100 else "default")
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from conveyor.jobs.core import Core
from conveyor.validation import validate_queue_name

__all__ = ["QueueName", "validate_queue_name"]


class QueueName(Core):
    """Mixin: the ``queue_as`` declaration and its resolution."""

    queue_as: ClassVar[str | Callable[[Any], str] | None] = None

    @classmethod
    def _check_queue_as(cls) -> None:
        declared = cls.__dict__.get("queue_as")
        if isinstance(declared, staticmethod):
            declared = declared.__func__
        if declared is None or callable(declared):
            return
        validate_queue_name(declared, f"{cls.__qualname__}.queue_as (a name or a callable (job) -> name)")

    def _resolve_queue(self, explicit: str | None, default: str) -> str:
        if explicit is not None:
            return explicit
        declared = type(self).queue_as
        if declared is None:
            return default
        if isinstance(declared, str):
            return declared
        return validate_queue_name(declared(self), f"{type(self).__qualname__}.queue_as(job)", ValueError)
