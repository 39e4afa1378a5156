"""Continuable jobs: steps with cursors that resume where they stopped (ActiveJob 8.1's ``Continuable``).

A long job survives deploys without starting over. ``perform`` runs its work in named
steps; when the worker stops (warm shutdown, or the soft-shutdown window of a cold one:
SIGTERM with ``REMAP_SIGTERM=SIGQUIT``, as the README advises for deploys), the job is interrupted at its
next checkpoint and enqueued again at once with its progress: the same job id, completed
steps skipped, the current step at its cursor. It is not a retry: ``retry_on`` attempts are
untouched, ``resumptions`` counts instead.

Python's ``with`` cannot skip its body, so a step is a ``for`` over ``self.step(...)``
(the body runs once, or not at all when the step completed earlier), or a method::

    class ProcessImportJob(Job):
        max_resumptions = 50                     # then ResumeLimitError, to the dead set

        def perform(self, import_id):
            self.rows = load(import_id)          # outside steps: runs on every execution
            for _ in self.step("initialize"):
                prepare(import_id)
            for step in self.step("process", start=0):
                for row in self.rows[step.cursor:]:
                    process(row)
                    step.advance()               # cursor + 1, and a checkpoint
            self.step("finalize", self.finalize)

        def finalize(self, step): ...

In an ``async def perform`` the ``for`` form is the same, and a step method may be ``async def``:
``await self.step("finalize", self.finalize)``.

Checkpoints: before each step once this execution made progress, and at every
``step.advance`` / ``step.set`` / ``step.checkpoint``. Checkpoint more often than the soft
shutdown timeout (``worker_soft_shutdown_timeout``, 10 s as shipped): a job that reaches no
checkpoint in time is cancelled and runs again from its last *recorded* progress (the
message it started from), so work since then is done twice.

An error after progress in this execution resumes the job (at once, after ``resume_wait``)
instead of failing it (``resume_errors_after_advancing = False`` turns this off); an error
before any progress goes to ``retry_on`` / ``discard_on`` / the dead set as usual.
"""

from __future__ import annotations

import datetime as dt
import inspect
from collections.abc import Callable, Iterator
from typing import Any, ClassVar

from conveyor.errors import DeclarationError, Interrupt, InvalidStepError, ResumeLimitError
from conveyor.jobs import logs
from conveyor.jobs.adapters import current_adapter
from conveyor.jobs.app_lookup import current_app
from conveyor.jobs.continuation import Continuation, Step
from conveyor.jobs.core import Core
from conveyor.jobs.stopping import stopping

__all__ = ["Continuable", "StepLoop"]

UTC = dt.UTC


class StepLoop:
    """What ``self.step(name)`` returns: iterate it once to run the step's body (zero times if done)."""

    def __init__(self, continuation: Continuation, name: str, start: Any) -> None:
        self._continuation = continuation
        self._name = name
        self._start = start

    def __iter__(self) -> Iterator[Step]:
        step = self._continuation.enter(self._name, self._start)
        if step is None:
            logs.step_event(self._continuation.job, f"Step {self._name!r} skipped: completed before")
            return
        _log_start(step)
        completed = False
        try:
            yield step
            completed = True
        finally:  # an error in the body, or a break, leaves the step unfinished
            self._continuation.leave(completed)
        logs.step_event(self._continuation.job, f"Step {self._name!r} completed")

    def __enter__(self) -> Any:
        raise TypeError(
            f"step({self._name!r}) is not a context manager: Python's `with` cannot skip a completed step. "
            f"Write `for step in self.step({self._name!r}):` or pass a method: "
            f"self.step({self._name!r}, self.{self._name})"
        )

    def __exit__(self, *exc: object) -> None:  # pragma: no cover - __enter__ always raises
        return None


def _log_start(step: Step) -> None:
    if step.resumed:
        logs.step_event(step._continuation.job, f"Step {step.name!r} resumed {step.description}")
    else:
        logs.step_event(step._continuation.job, f"Step {step.name!r} started")


class Continuable(Core):
    """Mixin: ``step``, ``checkpoint``, ``resumptions`` and resuming an interrupted job."""

    #: How many times the job may be resumed; ``None``: no limit. Over it: ``ResumeLimitError``.
    max_resumptions: ClassVar[int | None] = None
    #: Seconds before a job that raised after making progress runs again (an interrupted
    #: job is enqueued at once: nothing went wrong with it).
    resume_wait: ClassVar[float] = 5.0
    #: An error after progress in this execution resumes the job instead of failing it.
    resume_errors_after_advancing: ClassVar[bool] = True

    @classmethod
    def _check_continuable(cls) -> None:
        limit = cls.__dict__.get("max_resumptions")
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
            raise DeclarationError(f"{cls.__qualname__}.max_resumptions must be an int >= 0 or None, got {limit!r}")
        wait = cls.__dict__.get("resume_wait")
        if wait is not None and (isinstance(wait, bool) or not isinstance(wait, int | float) or wait < 0):
            raise DeclarationError(f"{cls.__qualname__}.resume_wait must be seconds >= 0, got {wait!r}")

    @property
    def continuation(self) -> Continuation:
        """This execution's progress (created when first needed)."""
        if self._continuation is None:
            self._continuation = Continuation(self, self._progress, stopping)
        return self._continuation  # type: ignore[no-any-return]

    def step(self, name: str, method: Callable[..., Any] | None = None, *, start: Any = None) -> Any:
        """A step of the job: ``for step in self.step(name, start=...)`` or ``self.step(name, method)``.

        ``method`` takes no argument or the ``Step``; its return value is returned (None when
        the step completed in an earlier execution).
        """
        loop = StepLoop(self.continuation, name, start)
        if method is None:
            return loop
        takes_step = _takes_step(name, method)
        if inspect.iscoroutinefunction(method):  # in an async perform: `await self.step(name, self.method)`
            return _awaited_step(loop, method, takes_step)
        result = None
        for step in loop:
            result = method(step) if takes_step else method()
        return result

    def checkpoint(self) -> None:
        """A point outside any step where the job may be interrupted."""
        self.continuation.checkpoint()

    # --- the execution side (called by conveyor.jobs.execution) -----------------------------------

    def _start_continuation(self) -> None:
        """Called when the message carried progress (``_progress``): count and log the resumption."""
        if self.continuation.started:
            self.resumptions += 1
            logs.resuming(self, self.continuation.description)

    def _resumes_after(self, error: BaseException) -> bool:
        if isinstance(error, Interrupt):
            return True
        continuation = self._continuation
        return continuation is not None and type(self).resume_errors_after_advancing and continuation.advanced

    def _resume(self, reason: BaseException) -> None:
        """Enqueue the job again with its progress; raises ``ResumeLimitError`` past ``max_resumptions``."""
        limit = type(self).max_resumptions
        if limit is not None and self.resumptions >= limit:
            raise ResumeLimitError(
                f"{type(self).__qualname__} was resumed {self.resumptions} times (max_resumptions = {limit}); "
                f"stopped {self.continuation.description}"
            ) from (None if isinstance(reason, Interrupt) else reason)
        wait = 0.0 if isinstance(reason, Interrupt) else float(type(self).resume_wait)
        logs.interrupted(self, self.continuation.description, reason, wait)
        now = dt.datetime.now(UTC)
        self.enqueued_at = now
        self.scheduled_at = now + dt.timedelta(seconds=wait) if wait else None
        current_adapter().enqueue(current_app(), self)  # type: ignore[arg-type]  # self is a Job


async def _awaited_step(loop: StepLoop, method: Callable[..., Any], takes_step: bool) -> Any:
    result = None
    for step in loop:
        result = await (method(step) if takes_step else method())
    return result


def _takes_step(name: str, method: Callable[..., Any]) -> bool:
    try:
        parameters = list(inspect.signature(method).parameters.values())
    except (TypeError, ValueError):
        return True
    positional = [p for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL)]
    required_keywords = [p for p in parameters if p.kind is p.KEYWORD_ONLY and p.default is p.empty]
    if len(positional) > 1 or required_keywords:
        raise InvalidStepError(f"the method of step {name!r} must take no argument or one (the step), got {method!r}")
    return bool(positional)
