"""Error handling declarations: ``retry_on``, ``discard_on``, ``after_discard``, and the backoff maths.

Which declaration handles an error: the most specific match wins (the declared
class nearest to the raised exception's type in its MRO); among equally
specific ones, the one declared on the subclass, then the one nearest the
``class`` line (decorators apply bottom-up). Unmatched errors are re-raised,
after the ``after_discard`` hooks, so Celery records FAILURE.

Example::

    @retry_on(Exception, wait=polynomially_longer, attempts=5)
    @retry_on(NetworkError, wait=10, attempts=3)
    @discard_on(RecordNotFound)
    class DataImportJob(Job):
        def perform(self, file_path: str) -> None: ...
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from conveyor.defaults import DEFAULT_ATTEMPTS, DEFAULT_WAIT_S
from conveyor.errors import DeclarationError
from conveyor.jobs.callbacks import _marker
from conveyor.jobs.core import Core
from conveyor.validation import validate_priority, validate_queue_name

__all__ = [
    "DiscardDeclaration",
    "RetryDeclaration",
    "after_discard",
    "determine_delay",
    "discard_on",
    "find_declaration",
    "jitter_for",
    "polynomially_longer",
    "retry_on",
    "retries_left",
    "will_retry",
]

#: conveyor's own generator: the global ``random`` stream is the application's (and its tests').
_RANDOM = random.Random()

J = TypeVar("J", bound="type[Core]")
Handler = Callable[[Any, BaseException], Any]
Wait = int | float | dt.timedelta | Callable[[int], float]
_RESCUES = "_conveyor_rescues"

#: ``@after_discard`` on ``def hook(self, error)``: runs whenever the job is given up on
#: (discarded, retries exhausted without a handler, or an unhandled error).
after_discard = _marker("discard", "after")


def polynomially_longer(executions: int) -> float:
    """Backoff of ``executions**4 + 2`` seconds (≈3 s, 18 s, 83 s, 258 s, 627 s), plus jitter.

    Pass the function itself: ``retry_on(Exception, wait=polynomially_longer)``.
    """
    return float(executions**4 + 2)


def jitter_for(delay: float, jitter: float, rand: Callable[[], float] = _RANDOM.random) -> float:
    """Random extra seconds in ``[0, delay * jitter)``: spreads out retries of many jobs."""
    return rand() * delay * jitter if jitter else 0.0


def determine_delay(wait: Wait, executions: int, jitter: float, rand: Callable[[], float] = _RANDOM.random) -> float:
    """Seconds to wait before the retry after ``executions`` failures of one declaration.

    >>> determine_delay(polynomially_longer, 2, jitter=0.0)
    18.0
    >>> determine_delay(dt.timedelta(minutes=1), 1, jitter=0.0)
    60.0
    """
    if wait is polynomially_longer:
        base = float(executions**4)
        return base + jitter_for(base, jitter, rand) + 2
    if isinstance(wait, dt.timedelta):
        base = wait.total_seconds()
        return base + jitter_for(base, jitter, rand)
    if isinstance(wait, int | float):
        return wait + jitter_for(float(wait), jitter, rand)
    return float(wait(executions))


@dataclass(frozen=True, slots=True)
class RetryDeclaration:
    """One ``retry_on`` declaration of a job class."""

    exceptions: tuple[type[BaseException], ...]
    wait: Wait
    attempts: int | None  # None: unlimited
    jitter: float | None  # None: the app's conveyor_retry_jitter
    queue: str | None
    priority: int | None
    handler: Handler | None
    key: str  # names this declaration's counter in job.exception_executions


@dataclass(frozen=True, slots=True)
class DiscardDeclaration:
    """One ``discard_on`` declaration of a job class."""

    exceptions: tuple[type[BaseException], ...]
    handler: Handler | None


Declaration = RetryDeclaration | DiscardDeclaration


def _check_exceptions(option: str, exceptions: tuple[Any, ...]) -> tuple[type[BaseException], ...]:
    if not exceptions:
        raise DeclarationError(f"{option} needs at least one exception class, e.g. {option}(ConnectionError)")
    for exc in exceptions:
        if not (isinstance(exc, type) and issubclass(exc, BaseException)):
            raise DeclarationError(f"{option} expects exception classes, but got {exc!r}; pass e.g. ConnectionError")
    return exceptions


def _check_wait(wait: Any) -> Wait:
    if wait == "polynomially_longer":  # ActiveJob spells it as a symbol; accept the ported string
        return polynomially_longer
    valid = (
        (isinstance(wait, int | float) and not isinstance(wait, bool) and wait >= 0)
        or (isinstance(wait, dt.timedelta) and wait >= dt.timedelta(0))
        or callable(wait)
    )
    if not valid:
        raise DeclarationError(
            "Unsupported value for retry_on(wait=...): expected seconds (int or float >= 0), a timedelta, "
            f"polynomially_longer, or a callable (executions) -> seconds, but got {wait!r}"
        )
    return wait  # type: ignore[no-any-return]


def _check_attempts(attempts: Any) -> int | None:
    if attempts == "unlimited":
        return None
    if isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 1:
        raise DeclarationError(
            f"Unsupported value for retry_on(attempts=...): expected an int >= 1 (executions including the "
            f"first) or 'unlimited', but got {attempts!r}"
        )
    return attempts


def _check_handler(option: str, handler: Any) -> Handler | None:
    if handler is not None and not callable(handler):
        raise DeclarationError(f"{option}(handler=...) expects a callable (job, error), but got {handler!r}")
    return handler  # type: ignore[no-any-return]


def _check_target(option: str, cls: Any) -> None:
    if not (isinstance(cls, type) and issubclass(cls, Core)):
        raise DeclarationError(f"@{option}(...) decorates a Job subclass, but got {cls!r}")


def _declare(cls: type, declaration: Declaration) -> None:
    # Each class keeps only its own declarations; inherited ones are found through the MRO.
    own = cls.__dict__.get(_RESCUES)
    if own is None:
        own = []
        setattr(cls, _RESCUES, own)
    own.append(declaration)


def retry_on(
    *exceptions: type[BaseException],
    wait: Wait | Literal["polynomially_longer"] = DEFAULT_WAIT_S,
    attempts: int | Literal["unlimited"] = DEFAULT_ATTEMPTS,
    jitter: float | None = None,
    queue: str | None = None,
    priority: int | None = None,
    handler: Handler | None = None,
) -> Callable[[J], J]:
    """Retry the job when ``perform`` raises one of ``exceptions``.

    Options:
        wait: seconds (int, float or timedelta) before the retry, default 3;
            ``polynomially_longer`` (``executions**4 + 2`` s); or a callable
            ``(executions) -> seconds`` (no jitter added).
        attempts: executions including the first, default 5, or ``"unlimited"``.
            Counted per declaration, across retries (``job.exception_executions``).
        jitter: fraction of the wait added at random, default the app's
            ``conveyor_retry_jitter`` (0.15).
        queue, priority: where the retry goes (default: where the job was).
        handler: ``(job, error)`` called when attempts are exhausted; the error
            is then swallowed. Without it, ``after_discard`` hooks run and the
            error is re-raised, so Celery records FAILURE.

    Example::

        @retry_on(ConnectionError, wait=5, attempts=3)
        class ReportGenerationJob(Job): ...
    """
    checked = _check_exceptions("retry_on", exceptions)
    if jitter is not None and (isinstance(jitter, bool) or not isinstance(jitter, int | float) or jitter < 0):
        raise DeclarationError(f"retry_on(jitter=...) expects a number >= 0 (e.g. 0.15), but got {jitter!r}")
    if queue is not None:
        validate_queue_name(queue, "retry_on(queue=...)")
    if priority is not None:
        validate_priority(priority, "retry_on(priority=...)")
    declaration_args = dict(
        exceptions=checked,
        wait=_check_wait(wait),
        attempts=_check_attempts(attempts),
        jitter=jitter,
        queue=queue,
        priority=priority,
        handler=_check_handler("retry_on", handler),
    )

    def decorate(cls: J) -> J:
        _check_target("retry_on", cls)
        key = f"{cls.__qualname__}[{','.join(exc.__qualname__ for exc in checked)}]"
        _declare(cls, RetryDeclaration(key=key, **declaration_args))  # type: ignore[arg-type]
        return cls

    return decorate


def discard_on(*exceptions: type[BaseException], handler: Handler | None = None) -> Callable[[J], J]:
    """Give up on the job, without retrying or failing, when ``perform`` raises one of ``exceptions``.

    The discard is logged, ``handler(job, error)`` is called if given, then the
    ``after_discard`` hooks run; the job ends in SUCCESS.

    Example::

        @discard_on(RecordNotFound)
        class ReportGenerationJob(Job): ...
    """
    checked = _check_exceptions("discard_on", exceptions)
    checked_handler = _check_handler("discard_on", handler)

    def decorate(cls: J) -> J:
        _check_target("discard_on", cls)
        _declare(cls, DiscardDeclaration(checked, checked_handler))
        return cls

    return decorate


def find_declaration(job_cls: type, error: BaseException) -> Declaration | None:
    """Return the declaration that handles ``error`` on ``job_cls`` (see module doc), or None."""
    error_mro = type(error).__mro__
    best: Declaration | None = None
    best_rank: tuple[int, int, int] | None = None
    for depth, klass in enumerate(job_cls.__mro__):
        for order, declaration in enumerate(klass.__dict__.get(_RESCUES, ())):
            for declared in declaration.exceptions:
                if not isinstance(error, declared):
                    continue
                distance = error_mro.index(declared) if declared in error_mro else len(error_mro)
                rank = (distance, depth, order)
                if best_rank is None or rank < best_rank:
                    best, best_rank = declaration, rank
    return best


def retries_left(declaration: RetryDeclaration, count: int) -> bool:
    """Whether a ``retry_on`` runs the job again after its ``count``-th matching failure."""
    return declaration.attempts is None or count < declaration.attempts


def will_retry(job: Core, error: BaseException) -> bool:
    """Whether ``job``, failing with ``error`` now, is run again by a ``retry_on`` (before the count moves).

    For code that reports a failure before conveyor handles it (``django.tasks`` results: READY
    again, not FAILED). A handler that calls ``retry_job`` is not foreseen.

    Example::

        will_retry(job, TimeoutError())   # True while a retry_on(TimeoutError, attempts=3) has attempts left
    """
    declaration = find_declaration(type(job), error)
    if not isinstance(declaration, RetryDeclaration):
        return False
    return retries_left(declaration, job.exception_executions.get(declaration.key, 0) + 1)
