"""A job's message priority: ``priority`` on the class, ``set(priority=...)`` per call.

0 is the most urgent, 9 the least (kombu's Redis transport order). ``None``
means the app's ``task_default_priority``. Resolution order: ``set(priority=...)``
> ``priority`` > app default. Like ``queue_as``, ``priority`` may be a callable
``(job) -> 0..9`` evaluated at enqueue, with the job's arguments set.

Example::

    class NotificationJob(Job):
        priority = 0

    class ExportJob(Job):
        priority = staticmethod(lambda job: 0 if job.arguments[0].plan == "enterprise" else 5)
"""

from __future__ import annotations

from typing import Any

from conveyor.jobs.core import Core
from conveyor.validation import validate_priority

__all__ = ["QueuePriority", "validate_priority"]


class QueuePriority(Core):
    """Mixin: the ``priority`` declaration (``self.priority`` is the job's resolved priority)."""

    @classmethod
    def _check_priority(cls) -> None:
        declared = cls.__dict__.get("priority")
        if isinstance(declared, staticmethod):
            declared = declared.__func__
        if declared is not None and not callable(declared):
            validate_priority(declared, f"{cls.__qualname__}.priority (or a callable (job) -> priority)")

    def _declared_priority(self) -> Any:
        declared = type(self).priority
        if declared is None or not callable(declared):
            return declared
        return validate_priority(declared(self), f"{type(self).__qualname__}.priority(job)", ValueError)
