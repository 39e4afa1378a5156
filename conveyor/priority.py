"""A job's message priority: ``priority`` on the class, ``set(priority=...)`` per call.

0 is the most urgent, 9 the least (kombu's Redis transport order). ``None``
means the app's ``task_default_priority``. Resolution order: ``set(priority=...)``
> ``priority`` > app default.

Example::

    class NotificationJob(Job):
        priority = 0
"""

from __future__ import annotations

from typing import Any

from conveyor.core import Core
from conveyor.defaults import MAX_PRIORITY, MIN_PRIORITY
from conveyor.errors import DeclarationError

__all__ = ["QueuePriority", "validate_priority"]


def validate_priority(value: Any, where: str, error: type[Exception] = DeclarationError) -> int:
    """Return ``value`` if it is a priority (int 0-9), else raise ``error`` saying what is accepted."""
    if isinstance(value, bool) or not isinstance(value, int) or not MIN_PRIORITY <= value <= MAX_PRIORITY:
        raise error(
            f"{where} must be an int from {MIN_PRIORITY} (most urgent) to {MAX_PRIORITY} (least), or None for "
            f"the queue default, but got {value!r}"
        )
    return value


class QueuePriority(Core):
    """Mixin: the ``priority`` declaration (``self.priority`` is the job's resolved priority)."""

    @classmethod
    def _check_priority(cls) -> None:
        declared = cls.__dict__.get("priority")
        if declared is not None:
            validate_priority(declared, f"{cls.__qualname__}.priority")
