"""``@unique``, ``@limits_concurrency`` and ``@throttle``: Sidekiq Enterprise's and Solid Queue's controls.

Declared on a job class and checked when the class is defined, like ``retry_on``. Each
computes its key from the job's arguments at enqueue, in the producer, and sends it with
the message as a header; Redis enforces it in one script (``conveyor.broker.controls``), so
a worker never runs user code to decide, and never holds a slot while a job waits.

Example::

    @unique(within=600)                                   # no second import of the same file
    class DataImportJob(Job):
        def perform(self, file_path: str) -> None: ...

    @limits_concurrency(to=1, key=lambda report_id, **_: report_id, duration=900)
    class ReportGenerationJob(Job): ...                   # one generation per report at a time

    @throttle(limit=10, period=60, key=lambda user_id, **_: user_id)
    class UserNotificationJob(Job): ...                   # at most 10 starts a minute per user

``DataImportJob.perform_later(path)`` twice within ten minutes: the second returns a job with
``successfully_enqueued False`` and ``duplicate_of`` the first one's id (or raises
``DuplicateJobError`` with ``on_conflict="raise"``).
"""

from __future__ import annotations

import hashlib
import inspect
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from conveyor.broker.controls import LIMIT_HEADER, THROTTLE_HEADER, UNIQUE_HEADER
from conveyor.errors import DeclarationError
from conveyor.jobs.core import Core
from conveyor.keys import LIMIT_PREFIX, THROTTLE_PREFIX, UNIQUE_PREFIX

__all__ = [
    "ConcurrencyDeclaration",
    "ThrottleDeclaration",
    "UniqueDeclaration",
    "control_headers",
    "limits_concurrency",
    "throttle",
    "unique",
]

J = TypeVar("J", bound="type[Core]")
KeyFunction = Callable[..., Any]

UNIQUE_ATTR, LIMIT_ATTR, THROTTLE_ATTR = "_conveyor_unique", "_conveyor_limit", "_conveyor_throttle"


@dataclass(frozen=True)
class UniqueDeclaration:
    within: float
    key: KeyFunction | None
    until: Literal["success", "start"]
    on_conflict: Literal["discard", "raise"]


@dataclass(frozen=True)
class ConcurrencyDeclaration:
    to: int
    key: KeyFunction | None
    duration: float
    group: str | None
    on_conflict: Literal["block", "discard"]


@dataclass(frozen=True)
class ThrottleDeclaration:
    limit: int
    period: float
    key: KeyFunction | None


def unique(
    within: float,
    key: KeyFunction | None = None,
    until: Literal["success", "start"] = "success",
    on_conflict: Literal["discard", "raise"] = "discard",
) -> Callable[[J], J]:
    """At most one such job enqueued (or scheduled, or running) per key, for at most ``within`` seconds.

    ``key(**arguments)`` gets perform's arguments by name (``lambda file_path, **_: file_path``);
    by default the key is the arguments and the queue. The lock is released on success
    (``until="start"``: when the job starts), on discard, and when the job goes to the dead set;
    ``within`` bounds it whatever happens.
    A duplicate ``perform_later`` returns a job with ``successfully_enqueued False`` and
    ``duplicate_of`` set, or raises ``DuplicateJobError`` with ``on_conflict="raise"``.
    """
    _positive("unique", "within", within, "seconds, e.g. within=600")
    _choice("unique", "until", until, ("success", "start"))
    _choice("unique", "on_conflict", on_conflict, ("discard", "raise"))
    return _declaring("unique", UNIQUE_ATTR, UniqueDeclaration(float(within), key, until, on_conflict))


def limits_concurrency(
    to: int,
    key: KeyFunction | None = None,
    duration: float = 900,
    group: str | None = None,
    on_conflict: Literal["block", "discard"] = "block",
) -> Callable[[J], J]:
    """At most ``to`` of these jobs with the same key (and ``group``) run at once, on all workers.

    A job over the limit waits in Redis (``on_conflict="block"``) and goes back to its queue,
    at its priority, when a running one finishes, or is dropped (``"discard"``, logged).
    ``duration`` (seconds) is the longest a slot is held if its holder neither finishes nor
    is found dead; ``group`` lets several job classes share one limit (Solid Queue's meaning).
    """
    if isinstance(to, bool) or not isinstance(to, int) or to < 1:
        raise DeclarationError(f"limits_concurrency(to=...) expects an int >= 1 (e.g. to=1), but got {to!r}")
    _positive("limits_concurrency", "duration", duration, "seconds a slot is held at most, e.g. duration=900")
    if group is not None and (not isinstance(group, str) or not group.strip()):
        raise DeclarationError(f"limits_concurrency(group=...) expects a non-empty name, but got {group!r}")
    _choice("limits_concurrency", "on_conflict", on_conflict, ("block", "discard"))
    return _declaring(
        "limits_concurrency", LIMIT_ATTR, ConcurrencyDeclaration(to, key, float(duration), group, on_conflict)
    )


def throttle(limit: int, period: float, key: KeyFunction | None = None) -> Callable[[J], J]:
    """At most ``limit`` starts per ``period`` seconds per key (sliding window).

    A job over the limit goes to the scheduled set for the moment the window frees (plus up to
    10% of the period at random), then runs; it is not retried and holds no worker meanwhile.
    """
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise DeclarationError(f"throttle(limit=...) expects an int >= 1 (e.g. limit=10), but got {limit!r}")
    _positive("throttle", "period", period, "seconds of the window, e.g. period=60")
    return _declaring("throttle", THROTTLE_ATTR, ThrottleDeclaration(limit, float(period), key))


def control_headers(job: Core, task: str, serialized: tuple[list[Any], dict[str, Any]]) -> dict[str, Any]:
    """The headers carrying ``job``'s controls, its keys computed from its arguments (empty if none).

    ``serialized`` is the job's arguments as they travel: the default unique key digests them.
    """
    cls = type(job)
    headers: dict[str, Any] = {}
    uniq: UniqueDeclaration | None = getattr(cls, UNIQUE_ATTR, None)
    if uniq is not None:
        wait = 0.0
        if job.scheduled_at is not None and job.enqueued_at is not None:
            wait = max(0.0, (job.scheduled_at - job.enqueued_at).total_seconds())
        value = _key_value(uniq.key, job) if uniq.key else _arguments_digest(serialized, job.queue_name)
        headers[UNIQUE_HEADER] = {
            "key": f"{UNIQUE_PREFIX}{task}:{value}",
            "ttl_ms": int((uniq.within + wait) * 1000),
            "until": uniq.until,
        }
    limit: ConcurrencyDeclaration | None = getattr(cls, LIMIT_ATTR, None)
    if limit is not None:
        value = _key_value(limit.key, job) if limit.key else ""
        headers[LIMIT_HEADER] = {
            "key": f"{LIMIT_PREFIX}{limit.group or task}:{value}",
            "to": limit.to,
            "duration": limit.duration,
            "discard": limit.on_conflict == "discard",
        }
    rate: ThrottleDeclaration | None = getattr(cls, THROTTLE_ATTR, None)
    if rate is not None:
        value = _key_value(rate.key, job) if rate.key else ""
        headers[THROTTLE_HEADER] = {
            "key": f"{THROTTLE_PREFIX}{task}:{value}",
            "limit": rate.limit,
            "period": rate.period,
        }
    return headers


def _key_value(key: KeyFunction, job: Core) -> str:
    # The key gets perform's arguments by name, defaults filled in (declared as ``lambda report_id, **_: ...``).
    signature = _signatures.get(type(job))
    if signature is None:
        signature = _signatures[type(job)] = inspect.signature(type(job).perform)
    bound = signature.bind(None, *job.arguments, **job.keyword_arguments)
    bound.apply_defaults()
    arguments = {name: value for name, value in bound.arguments.items() if name != "self"}
    return str(key(**arguments))


_signatures: dict[type, inspect.Signature] = {}


def _arguments_digest(serialized: tuple[list[Any], dict[str, Any]], queue: str | None) -> str:
    text = json.dumps([*serialized, queue], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha1(text.encode()).hexdigest()


def _declaring(option: str, attribute: str, declaration: Any) -> Callable[[J], J]:
    def decorate(cls: J) -> J:
        if not (isinstance(cls, type) and issubclass(cls, Core)):
            raise DeclarationError(f"@{option}(...) decorates a Job subclass, but got {cls!r}")
        if declaration.key is not None:
            _check_key(option, cls, declaration.key)
        setattr(cls, attribute, declaration)
        cls._controlled = True
        return cls

    return decorate


def _check_key(option: str, cls: type, key: Any) -> None:
    if not callable(key):
        raise DeclarationError(f"@{option}(key=...) expects a callable taking the job's arguments, but got {key!r}")
    perform = inspect.signature(cls.perform)  # type: ignore[attr-defined]
    names = [
        p.name
        for p in perform.parameters.values()
        if p.name != "self" and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    ]
    try:
        inspect.signature(key).bind(**dict.fromkeys(names))
    except TypeError as exc:
        raise DeclarationError(
            f"@{option}(key=...) on {cls.__qualname__} must accept perform's arguments ({', '.join(names)}) "
            f"by name: {exc}. Write it like lambda {names[0] if names else 'x'}, **_: ..."
        ) from None
    except ValueError:  # a builtin without a signature: trust it
        return


def _positive(option: str, name: str, value: Any, hint: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise DeclarationError(f"{option}({name}=...) expects a positive number of {hint}, but got {value!r}")


def _choice(option: str, name: str, value: Any, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise DeclarationError(
            f"{option}({name}=...) expects one of {', '.join(map(repr, allowed))}, but got {value!r}"
        )
