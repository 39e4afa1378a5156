"""Callbacks around enqueuing and performing: ``before_*``, ``after_*``, ``around_*``.

Decorate methods of a job class. Inherited callbacks run before the class's
own; within a class they run in definition order. ``before_*`` run first, then
``around_*`` (the first declared is the outermost), the body, then ``after_*``.
An ``around_*`` callback is a generator that yields exactly once: the body runs
at the ``yield``, an error of the body is raised at the ``yield``, and the body's
return value is the value of the ``yield`` (``result = yield``, as Rails'
``block.call`` returns it).

Any callback may be ``async def`` (an ``around_*`` one is then an async generator), on a sync
or an async job: it runs on the process's event loop (``conveyor.jobs.event_loop``), the loop
an ``async def perform`` runs on, so it can use the same loop-bound clients.

A ``before_*`` or ``around_*`` callback halts the chain by raising ``Abort`` (or,
for ``around_*``, by returning without yielding): the body does not run. ``after_*``
callbacks run only when the body completed.

Example::

    class DataProcessingJob(Job):
        @before_perform
        def log_start(self): self.logger.info("Starting job %s", self.job_id)

        @around_perform
        def measure_time(self):
            start = time.monotonic()
            result = yield
            self.logger.info("Job took %.3f seconds and returned %r", time.monotonic() - start, result)
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncGenerator, Callable, Generator
from dataclasses import dataclass
from typing import Any, TypeVar

from conveyor.errors import Abort, DeclarationError
from conveyor.jobs.event_loop import run

__all__ = [
    "Chain",
    "after_enqueue",
    "after_perform",
    "around_enqueue",
    "around_perform",
    "before_enqueue",
    "before_perform",
    "collect_chains",
    "run_chain",
]

F = TypeVar("F", bound=Callable[..., Any])
_MARK = "_conveyor_callback"
EVENTS = ("enqueue", "perform", "discard")


def _marker(event: str, when: str) -> Callable[[F], F]:
    kind = f"{when}_{event}"

    def decorate(method: F) -> F:
        if not callable(method):
            raise DeclarationError(f"@{kind} decorates a method of a job class, got {method!r}")
        generator = inspect.isgeneratorfunction(method) or inspect.isasyncgenfunction(method)
        if when == "around" and not generator:
            raise DeclarationError(
                f"@{kind} on {method.__qualname__}: an around callback must be a generator that yields once "
                "(the job runs at the yield), e.g.\n    start = time.monotonic()\n    yield\n    log(...)"
            )
        if when != "around" and generator:
            raise DeclarationError(f"@{kind} on {method.__qualname__}: only an around callback yields")
        setattr(method, _MARK, (event, when))
        return method

    decorate.__name__ = kind
    decorate.__doc__ = f"Mark a job method to run {when} {event}ing (see ``conveyor.jobs.callbacks``)."
    return decorate


before_enqueue = _marker("enqueue", "before")
after_enqueue = _marker("enqueue", "after")
around_enqueue = _marker("enqueue", "around")
before_perform = _marker("perform", "before")
after_perform = _marker("perform", "after")
around_perform = _marker("perform", "around")


@dataclass(frozen=True, slots=True)
class Chain:
    """Names of the callback methods for one event, in running order."""

    before: tuple[str, ...] = ()
    around: tuple[str, ...] = ()
    after: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        return not (self.before or self.around or self.after)


def collect_chains(cls: type) -> dict[str, Chain]:
    """Build each event's chain for ``cls`` from its MRO, inherited callbacks first."""
    found: dict[tuple[str, str], list[str]] = {}
    seen: set[str] = set()
    for klass in reversed(cls.__mro__):
        for name, value in vars(klass).items():
            mark = getattr(value, _MARK, None)
            if mark is None or name in seen:
                continue
            seen.add(name)
            found.setdefault(mark, []).append(name)
    return {
        event: Chain(*(tuple(found.get((event, when), ())) for when in ("before", "around", "after")))
        for event in EVENTS
    }


def run_chain(job: Any, chain: Chain, body: Callable[[], Any]) -> Any:
    """Run ``body`` inside ``chain``'s callbacks on ``job``; ``Abort`` propagates."""
    for name in chain.before:
        _call(getattr(job, name))
    result = _run_around(job, chain.around, body) if chain.around else body()
    for name in chain.after:
        _call(getattr(job, name))
    return result


def _call(callback: Callable[[], Any]) -> Any:
    result = callback()
    return run(result) if inspect.iscoroutine(result) else result


def _run_around(job: Any, names: tuple[str, ...], body: Callable[[], Any]) -> Any:
    name, inner = names[0], names[1:]
    generator = _Stepper(getattr(job, name)())
    try:
        generator.send(None)
    except StopIteration:
        raise Abort(f"around callback {name} returned without yielding") from None
    try:
        result = _run_around(job, inner, body) if inner else body()
    except BaseException as exc:
        try:
            generator.throw(exc)
        except StopIteration:
            return None  # the callback handled the error, like a `rescue` around `yield`
        raise DeclarationError(f"around callback {name} yielded more than once") from exc
    try:
        generator.send(result)  # `result = yield` receives the body's return value
    except StopIteration:
        return result
    raise DeclarationError(f"around callback {name} yielded more than once")


class _Stepper:
    """A sync or async generator, stepped from sync code (an async one on the event loop)."""

    def __init__(self, generator: Generator[None, Any, None] | AsyncGenerator[None, Any]) -> None:
        self.generator = generator

    def send(self, value: Any) -> None:
        self._step("send", "asend", value)

    def throw(self, error: BaseException) -> None:
        self._step("throw", "athrow", error)

    def _step(self, sync: str, asynchronous: str, value: Any) -> None:
        if isinstance(self.generator, Generator):
            getattr(self.generator, sync)(value)
            return
        try:
            run(getattr(self.generator, asynchronous)(value))
        except StopAsyncIteration:
            raise StopIteration from None
