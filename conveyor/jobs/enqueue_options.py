"""The options of ``set(...)``: ``wait``, ``wait_until``, ``queue``, ``priority``, ``after_commit``, checked early.

One validator for ``Job.set``, ``ConfiguredJob.set`` and ``retry_job(...)``, so each mistake is
named the same way wherever it is made.

Example::

    check_enqueue_options(wait=60, queue="reports")     # {'wait': 60.0, 'queue': 'reports'}
    check_enqueue_options(wait=-1)                      # ValueError: set(wait=...) expects seconds ...
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from conveyor.validation import validate_priority, validate_queue_name

__all__ = ["EnqueueOptions", "check_enqueue_options"]

#: The options given to ``set(...)``, only those given.
EnqueueOptions = dict[str, Any]


def check_enqueue_options(
    wait: float | dt.timedelta | None = None,
    wait_until: dt.datetime | None = None,
    queue: str | None = None,
    priority: int | None = None,
    after_commit: bool | None = None,
) -> EnqueueOptions:
    """Validate ``set(...)`` options; return only the ones given.

    ``wait``: seconds (int/float >= 0) or a timedelta; ``wait_until``: an aware
    datetime; not both. ``queue``: a queue name; ``priority``: 0-9. ``after_commit``: False sends
    this job at once even inside a transaction (conveyor.sqlalchemy, conveyor.django hold it otherwise).
    """
    options: EnqueueOptions = {}
    if wait is not None and wait_until is not None:
        raise ValueError("set() takes wait= or wait_until=, not both")
    if wait is not None:
        if isinstance(wait, dt.timedelta):
            wait = wait.total_seconds()
        if isinstance(wait, bool) or not isinstance(wait, int | float) or wait < 0:
            raise ValueError(f"set(wait=...) expects seconds (int or float >= 0) or a timedelta, got {wait!r}")
        options["wait"] = float(wait)
    if wait_until is not None:
        if not isinstance(wait_until, dt.datetime) or wait_until.utcoffset() is None:
            raise ValueError(
                "set(wait_until=...) expects an aware datetime, e.g. datetime.now(timezone.utc) + timedelta(hours=1), "
                f"got {wait_until!r}"
            )
        options["wait_until"] = wait_until
    if queue is not None:
        options["queue"] = validate_queue_name(queue, "set(queue=...)", ValueError)
    if priority is not None:
        options["priority"] = validate_priority(priority, "set(priority=...)", ValueError)
    if after_commit is not None:
        if not isinstance(after_commit, bool):
            raise ValueError(f"set(after_commit=...) expects True or False, got {after_commit!r}")
        options["after_commit"] = after_commit
    return options
