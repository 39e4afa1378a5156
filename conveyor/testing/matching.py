"""How the test helper's assertions pick jobs: filters (``only=``, ``except_=``, ``queue=``) and matchers.

A filter is a job class, a list of classes, or a callable over the ``EnqueuedJob`` record. A
criterion of ``assert_*_with`` is a value or a matcher (a callable returning True); ``args`` and
``kwargs`` values are compared serialized, as the worker would receive them.

Example::

    selector(only=[ReportJob], except_=None, queue="low")(entry)    # True or False
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from conveyor.serialization import serialize_arguments
from conveyor.testing.helpers import EnqueuedJob

if TYPE_CHECKING:
    from conveyor.jobs.job import Job

__all__ = [
    "AT_TOLERANCE_S",
    "Filter",
    "args_match",
    "at_match",
    "instead",
    "kwargs_match",
    "same",
    "scope",
    "selector",
    "shown",
]

#: ``at=`` matches a job scheduled within this many seconds of it (enqueue takes time too).
AT_TOLERANCE_S = 1.0
Filter = type["Job"] | Iterable[type["Job"]] | Callable[[EnqueuedJob], bool] | None


def _test(spec: Filter) -> Callable[[EnqueuedJob], bool] | None:
    if spec is None:
        return None
    if isinstance(spec, type):
        return lambda entry: issubclass(entry.job_class, spec)
    if callable(spec):
        return spec
    classes = tuple(spec)
    return lambda entry: issubclass(entry.job_class, classes)


def selector(only: Filter, except_: Filter, queue: str | None) -> Callable[[EnqueuedJob], bool]:
    keep, drop = _test(only), _test(except_)
    return lambda entry: (
        (keep is None or keep(entry)) and (drop is None or not drop(entry)) and (queue is None or entry.queue == queue)
    )


def scope(only: Filter, except_: Filter, queue: str | None) -> str:
    def name(spec: Filter) -> str:
        if isinstance(spec, type):
            return spec.__qualname__
        if callable(spec):
            return getattr(spec, "__name__", "a matcher")
        return ", ".join(cls.__qualname__ for cls in spec or ())

    parts = [f"of {name(only)}" if only is not None else "", f"except {name(except_)}" if except_ is not None else ""]
    parts.append(f"on queue {queue!r}" if queue is not None else "")
    text = " ".join(part for part in parts if part)
    return f" {text}" if text else ""


def same(expected: Any, actual: Any) -> bool:
    return bool(expected(actual)) if callable(expected) and not isinstance(expected, type) else expected == actual


def shown(value: Any) -> str:
    if isinstance(value, type):
        return value.__qualname__
    return f"{getattr(value, '__name__', 'a matcher')} (a matcher)" if callable(value) else repr(value)


def args_match(entry: EnqueuedJob, args: Any) -> bool:
    """``args`` (a sequence or a matcher) against the entry's positional arguments."""
    return _arguments_match(entry.args, entry.serialized[0], args, positional=True)


def kwargs_match(entry: EnqueuedJob, kwargs: Any) -> bool:
    """``kwargs`` (a dict or a matcher) against the entry's keyword arguments."""
    return _arguments_match(entry.kwargs, entry.serialized[1], kwargs, positional=False)


def _arguments_match(actual: Any, serialized: Any, expected: Any, positional: bool) -> bool:
    if callable(expected):
        return bool(expected(actual))
    expected = tuple(expected) if positional else dict(expected)
    try:  # compared as they travel: a record loaded again with the same key is the same argument
        sent = serialize_arguments("assert_*_with", (), *((expected, {}) if positional else ((), expected)))
    except Exception:
        return bool(actual == expected)
    return bool(sent[0 if positional else 1] == serialized)


def at_match(actual: dt.datetime | None, at: Any) -> bool:
    if callable(at) and not isinstance(at, dt.datetime):
        return bool(at(actual))
    return actual is not None and abs((actual - at).total_seconds()) <= AT_TOLERANCE_S


def instead(entries: list[EnqueuedJob], what: str, job: Any) -> str:
    if not entries:
        return f"No jobs were {what}."
    if isinstance(job, type) and not any(entry.job_class is job for entry in entries):
        classes = ", ".join(sorted({entry.job_class.__qualname__ for entry in entries}))
        return f"No jobs of class {job.__qualname__} were {what}, job classes {what}: {classes}"
    candidates = [entry for entry in entries if not isinstance(job, type) or entry.job_class is job]
    return "Potential matches: " + "\n                   ".join(str(entry) for entry in candidates)
