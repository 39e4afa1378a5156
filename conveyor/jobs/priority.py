"""A job's message priority: ``priority`` on the class, ``set(priority=...)`` per call.

0 is the most urgent, 9 the least (kombu's Redis transport order). ``None``
means the app's ``task_default_priority``. Resolution order: ``set(priority=...)``
> ``priority`` > app default.

Example::

    class NotificationJob(Job):
        priority = 0
"""

from __future__ import annotations

from conveyor.jobs.core import Core
from conveyor.routing import validate_priority

__all__ = ["QueuePriority", "validate_priority"]


class QueuePriority(Core):
    """Mixin: the ``priority`` declaration (``self.priority`` is the job's resolved priority)."""

    @classmethod
    def _check_priority(cls) -> None:
        declared = cls.__dict__.get("priority")
        if declared is not None:
            validate_priority(declared, f"{cls.__qualname__}.priority")
