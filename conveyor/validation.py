"""What a valid queue name and priority are, for every place that accepts one.

Job declarations (``queue_as``, ``priority``), ``set(queue=, priority=)``, ``retry_on``,
``config/worker.yaml`` and ``schedule.yaml`` all validate through here, each raising
its own error class with the place named.

Names are validated as written; the app's ``conveyor_queue_name_prefix`` then maps them to
the names in Redis (``conveyor.settings.prefixed_queue``).

Example::

    validate_queue_name("low_priority", "queue_as")     # "low_priority"
    validate_priority(12, "priority")                    # DeclarationError: priority must be ...
"""

from __future__ import annotations

import re
from typing import Any

from conveyor.defaults import MAX_PRIORITY, MIN_PRIORITY
from conveyor.errors import DeclarationError

__all__ = ["RESERVED_PREFIXES", "is_reserved", "validate_priority", "validate_queue_name"]

_VALID = re.compile(r"[A-Za-z0-9_.:\-]{1,200}")

#: Redis keys that are not queues, by the prefix of their name: conveyor's own (scheduled and dead
#: sets, locks, owners, pause and wake lists), kombu's bindings and unacked index, redbeat's
#: schedule, Celery's results. No queue may be named so: a send, a clear or a pause on such a
#: name would write into (or delete) a structure the workers read.
RESERVED_PREFIXES = (
    "conveyor:",
    "_kombu",
    "unacked",
    "redbeat:",
    "celery-task-meta-",
    "celery-taskset-meta-",
    "chord-unlock",
)


def is_reserved(name: str) -> bool:
    """True for a name that is not a queue's (``conveyor:scheduled``, ``_kombu.binding.x``, ``x.reply.celery.pidbox``).

    Example::

        is_reserved("conveyor:dead")   # True
        is_reserved("default")         # False
    """
    return name.startswith(RESERVED_PREFIXES) or name.endswith("pidbox")


def validate_queue_name(name: Any, where: str, error: type[Exception] = DeclarationError) -> str:
    """Return ``name`` if it is a valid queue name, else raise ``error`` saying what is accepted."""
    if not isinstance(name, str) or not _VALID.fullmatch(name):
        raise error(f"{where} must be a queue name of 1-200 letters, digits, '_', '-', '.' or ':', but got {name!r}")
    if is_reserved(name):
        raise error(
            f"{where} must not name one of the Redis keys that are not queues ({', '.join(RESERVED_PREFIXES)}…, "
            f"…pidbox), but got {name!r}: choose another queue name"
        )
    return name


def validate_priority(value: Any, where: str, error: type[Exception] = DeclarationError) -> int:
    """Return ``value`` if it is a priority (int 0-9), else raise ``error`` saying what is accepted."""
    if isinstance(value, bool) or not isinstance(value, int) or not MIN_PRIORITY <= value <= MAX_PRIORITY:
        raise error(
            f"{where} must be an int from {MIN_PRIORITY} (most urgent) to {MAX_PRIORITY} (least), or None for "
            f"the queue default, but got {value!r}"
        )
    return value
