"""One event loop per process for ``async def perform``: started once, reused by every async job.

``asyncio.run`` in each job makes a new loop per job, so a client made once and reused
(``httpx.AsyncClient``, ``redis.asyncio``, an ``AsyncEngine``) fails on the second job with
"attached to a different loop" or "Event loop is closed". Here, as in dramatiq, each process has
one long-lived loop in a thread of its own (``conveyor-event-loop``), started at the first async
job of the process and stopped at the worker's shutdown. The worker thread that runs a job submits
each coroutine of the job (``perform``, async callbacks and handlers) to that loop and waits for
it. A prefork child, which runs one job at a time in its main thread, runs its loop in that
thread instead (``loop.run_until_complete`` per coroutine, the same loop from job to job): a
thread hop costs ~90 µs per coroutine, a tenth of a no-op job; between two jobs its tasks wait.
Everything else of the job (arguments, callbacks' order, ``retry_on``/``discard_on``,
continuations, locks) is the sync path every job takes. Under
``-P threads -c N`` the N threads submit to the same loop: N jobs wait on I/O at once in one
process.

``@on_loop_start`` and ``@on_loop_stop`` functions (``async def``, no arguments) run on the loop
when it starts, before its first job, and when it stops: make loop-bound clients there.

Time limits reach the coroutine: at the soft limit (billiard's signal in a prefork child, the
only clock there; this module's own deadline in a threads or solo worker, where Celery enforces
none) the coroutine is
cancelled at its current ``await`` (its ``finally`` blocks run), and the job raises
``SoftTimeLimitExceeded`` (``retry_on`` matches it). A coroutine that swallows the cancellation
is left running on the loop once the hard limit (+ 1 s) passes, and the job ends with
``TimeLimitExceeded`` saying so; the loop's other jobs go on (in a prefork child billiard ends the
process at the hard limit, as for a sync job).

Example::

    @on_loop_start
    async def open_clients() -> None:
        clients.http = httpx.AsyncClient(timeout=10)

    result = run(fetch(url))   # from a worker thread: fetch(url) runs on this process's loop
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextlib
import contextvars
import inspect
import logging
import os
import signal
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar, cast

from celery.exceptions import SoftTimeLimitExceeded, TimeLimitExceeded

from conveyor.errors import DeclarationError

__all__ = [
    "JobCancelled",
    "JobScope",
    "LoopHook",
    "job_scope",
    "on_job_scope",
    "on_loop_start",
    "on_loop_stop",
    "pool_enforces_time_limits",
    "process_loop",
    "run",
    "running_in_a_coroutine",
    "running_on",
    "stop_process_loop",
    "wrap_coroutines",
]

logger = logging.getLogger("conveyor.jobs.event_loop")

LoopHook = Callable[[], Awaitable[None]]
H = TypeVar("H", bound=LoopHook)

#: After the hard limit, how long a cancelled coroutine may still take to end before it is left behind.
HARD_LIMIT_GRACE_S = 1.0
#: How long stopping the loop waits for the stop hooks and the coroutines still running.
STOP_TIMEOUT_S = 10.0

_start_hooks: list[LoopHook] = []
_stop_hooks: list[LoopHook] = []
_lock = threading.Lock()
_current: ProcessLoop | None = None
_at_exit: list[bool] = []
#: Set by ``aperform_now`` for the job it runs: its coroutines run on the caller's loop instead.
_callers_loop: contextvars.ContextVar[asyncio.AbstractEventLoop | None] = contextvars.ContextVar(
    "conveyor_callers_loop", default=None
)


#: What each coroutine of a job runs inside (``conveyor.django`` adds one for Django's async ORM).
_wrappers: list[Callable[[Coroutine[Any, Any, Any]], Coroutine[Any, Any, Any]]] = []


def wrap_coroutines(wrapper: Callable[[Coroutine[Any, Any, Any]], Coroutine[Any, Any, Any]]) -> None:
    """Run each job coroutine as ``wrapper(coroutine)`` from now on (once per wrapper)."""
    if wrapper not in _wrappers:
        _wrappers.append(wrapper)


def _hook(kind: str, hooks: list[LoopHook]) -> Callable[[H], H]:
    def register(function: H) -> H:
        if not inspect.iscoroutinefunction(function):
            raise DeclarationError(
                f"@{kind} takes an async def function with no arguments, got {function!r}: it runs on the "
                f"process's event loop, e.g.\n    @conveyor.{kind}\n    async def open_clients() -> None: ..."
            )
        if function not in hooks:  # a module imported twice (tests, reloads) registers once
            hooks.append(function)
            if hooks is _start_hooks:
                _start_late(function)
        return cast(H, function)

    register.__name__ = kind
    return register


on_loop_start = _hook("on_loop_start", _start_hooks)
on_loop_start.__doc__ = """Run ``async def function()`` on each process's loop when it starts, before its first job."""
on_loop_stop = _hook("on_loop_stop", _stop_hooks)
on_loop_stop.__doc__ = """Run ``async def function()`` on each process's event loop when the worker stops."""


class ProcessLoop:
    """This process's loop, the thread that runs it, and the jobs waiting on it."""

    def __init__(self, inline: bool = False) -> None:
        self.pid = os.getpid()
        self.loop = asyncio.new_event_loop()
        #: Run by the thread that runs the jobs (a prefork child's main thread), not a thread of its own.
        self.inline = inline
        self._started = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="conveyor-event-loop", daemon=True)
        #: Each job's wait: failed if the loop ends first, so no job waits for a loop that is gone.
        self.pending: set[concurrent.futures.Future[Any]] = set()

    def start(self) -> None:
        if self.inline:
            try:
                for hook in list(_start_hooks):
                    self.loop.run_until_complete(hook())
            except BaseException as exc:
                self._error = exc
                self._close()
                raise RuntimeError(f"an @on_loop_start function failed: {exc!r}") from exc
            return
        self._thread.start()
        self._started.wait()
        if self._error is not None:
            raise RuntimeError(f"an @on_loop_start function failed: {self._error!r}") from self._error

    @property
    def alive(self) -> bool:
        if self.inline:
            return not self.loop.is_closed() and self.pid == os.getpid()
        return self._thread.is_alive() and self.pid == os.getpid()

    @property
    def thread(self) -> threading.Thread:
        return threading.main_thread() if self.inline else self._thread

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            try:
                for hook in list(_start_hooks):
                    self.loop.run_until_complete(hook())
            except BaseException as exc:  # reported to the job that started the loop; the next one tries again
                self._error = exc
                return
            finally:
                self._started.set()
            self.loop.run_forever()
        finally:
            self._close()

    def _close(self) -> None:
        loop = self.loop
        try:
            for hook in list(_stop_hooks) if self._error is None else []:
                try:
                    loop.run_until_complete(asyncio.wait_for(hook(), STOP_TIMEOUT_S))
                except Exception:  # one hook's failure does not keep the others from closing their clients
                    logger.exception("conveyor: an @on_loop_stop function failed")
            left = [task for task in asyncio.all_tasks(loop) if not task.done()]
            for task in left:
                task.cancel()
            if left:
                loop.run_until_complete(asyncio.wait(left, timeout=STOP_TIMEOUT_S))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
        finally:
            loop.close()
            for waiting in list(self.pending):  # submitted too late, or their coroutine never ended
                if not waiting.done():
                    waiting.set_exception(JobCancelled("the event loop stopped before the job's coroutine ended"))

    def stop(self) -> None:
        if self.inline:
            if not self.loop.is_closed() and not self.loop.is_running():
                self._close()
            return
        if self._thread.is_alive():
            with contextlib.suppress(RuntimeError):  # closed meanwhile
                self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(STOP_TIMEOUT_S * 2)


def process_loop() -> ProcessLoop:
    """This process's loop, started now if it is not running (the first async job, or after a fork)."""
    global _current
    current = _current
    if current is not None and current.alive:
        return current
    with _lock:
        if _current is None or not _current.alive:
            # A prefork child runs one job at a time in its main thread: it runs the loop itself (no
            # thread hop per coroutine). Threads and solo workers, scripts: a loop thread of its own.
            fresh = _current = ProcessLoop(inline=pool_enforces_time_limits())  # recorded first: a signal
            # during the start leaks no loop
            try:
                fresh.start()  # raises if an @on_loop_start function failed: that job fails, the next tries again
            except BaseException:
                fresh.stop()
                _current = None
                raise
            if not _at_exit:  # perform_now in a script or a test session: the stop hooks run at its exit
                atexit.register(stop_process_loop)
                _at_exit.append(True)
        return _current


def _start_late(hook: LoopHook) -> None:
    """A start hook registered once this process's loop runs (a module imported later): run it there now."""
    current = _current
    if current is None or not current.alive:
        return  # the next loop runs it
    if current.inline:
        if current.loop.is_running():  # imported by a job's coroutine: a task of its own
            current.loop.create_task(_awaitable(hook))
        elif threading.current_thread() is threading.main_thread():
            current.loop.run_until_complete(_awaitable(hook))
        return
    future: concurrent.futures.Future[None] = asyncio.run_coroutine_threadsafe(_awaitable(hook), current.loop)
    if threading.current_thread() is not current.thread:  # on the loop itself it runs as a task of its own
        future.result()


def stop_process_loop() -> None:
    """Run the @on_loop_stop functions and close this process's loop (at the worker's shutdown)."""
    global _current
    with _lock:
        current, _current = _current, None
    if current is not None and current.pid == os.getpid():
        current.stop()


class JobScope:
    """One execution of a job: its deadlines and the one context all its coroutines run in.

    The context is made at the job's first coroutine (so what its sync callbacks set before is
    there) and kept: a variable an async ``before_perform`` sets is seen by ``perform``, and a token
    an async ``around_perform`` takes can be reset after the ``yield``.
    """

    def __init__(self, soft_deadline: float | None = None, hard_deadline: float | None = None) -> None:
        self.soft_deadline, self.hard_deadline = soft_deadline, hard_deadline
        self.context: contextvars.Context | None = None
        #: The task now running one of its coroutines (aperform_now cancels it with its caller).
        self.task: asyncio.Task[Any] | None = None


_scope: contextvars.ContextVar[JobScope | None] = contextvars.ContextVar("conveyor_job_scope", default=None)


#: Told of each job scope made in this context (``aperform_now`` keeps them to cancel the job with its caller).
_scope_listener: contextvars.ContextVar[Callable[[JobScope], Any] | None] = contextvars.ContextVar(
    "conveyor_scope_listener", default=None
)


def job_scope(scope: JobScope) -> Callable[[], None]:
    """Make ``scope`` the current job's (``conveyor.jobs.execution`` does, around an execution); returns the reset."""
    listener = _scope_listener.get()
    if listener is not None:
        listener(scope)
    token = _scope.set(scope)
    return lambda: _scope.reset(token)


def on_job_scope(listener: Callable[[JobScope], Any]) -> None:
    """Call ``listener`` with each job scope made in the current context from now on."""
    _scope_listener.set(listener)


def running_on(loop: asyncio.AbstractEventLoop) -> Callable[[], Any]:
    """For ``aperform_now``: run the current context's coroutines on ``loop``; returns the reset."""
    token = _callers_loop.set(loop)
    return lambda: _callers_loop.reset(token)


T = TypeVar("T")


def run(coroutine: Coroutine[Any, Any, T], *, soft_limit: bool = True) -> T:
    """Run ``coroutine`` on this process's loop (the caller's, in ``aperform_now``) and return its value.

    Within the current job's time limits (``JobScope``, ``time.monotonic()`` deadlines): past the
    soft deadline the coroutine is cancelled and ``SoftTimeLimitExceeded`` raised; past the hard one
    it is cancelled too and ``TimeLimitExceeded`` raised, and one still running a second later is
    left behind. ``soft_limit=False`` (a handler after the job's error) keeps only the hard limit.
    """
    result: T = _Call(coroutine, _scope.get() or JobScope(), soft_limit).result()
    return result


class _Call:
    """One coroutine handed to a loop by a thread that waits for it."""

    def __init__(self, coroutine: Coroutine[Any, Any, Any], scope: JobScope, soft_limit: bool) -> None:
        self.coroutine, self.scope = coroutine, scope
        self.soft = scope.soft_deadline if soft_limit else None
        self.hard = scope.hard_deadline
        self.done: concurrent.futures.Future[Any] = concurrent.futures.Future()
        self.tasks: list[asyncio.Task[Any]] = []
        self.owner: ProcessLoop | None = None
        self.loop: asyncio.AbstractEventLoop | None = None

    def result(self) -> Any:
        try:
            inline = self._hand_over()
        except SoftTimeLimitExceeded:  # billiard's signal before the coroutine was handed over
            self.coroutine.close()
            raise
        if inline:  # a prefork child: billiard's signals are its only clock, handled in _run_inline
            return self._run_inline()
        try:
            try:
                first = min((d for d in (self.soft, self.hard) if d is not None), default=None)
                return self.done.result(timeout=_remaining(first))
            except TimeoutError:
                if self.done.done():
                    return self.done.result()  # it ended as the wait ran out; or its own TimeoutError, raised here
                reason = "soft" if self.soft is not None and (self.hard is None or self.soft <= self.hard) else "hard"
            except SoftTimeLimitExceeded:
                reason = "soft"  # billiard's signal, in a prefork child
            return self._cancel(reason)
        finally:
            if self.owner is not None and self.done.done():
                self.owner.pending.discard(self.done)

    def _hand_over(self) -> bool:
        """Hand the coroutine to its loop's thread; True if this thread runs the loop itself instead."""
        coroutine = self.coroutine
        try:
            loop = _callers_loop.get()
            if loop is None:
                self.owner = process_loop()
                loop = self.owner.loop
        except BaseException:
            coroutine.close()  # never awaited: no "coroutine was never awaited" warning on top of the error
            raise
        if _running_loop() is loop:
            coroutine.close()
            raise RuntimeError(
                "a job with async def perform was run synchronously from its own event loop, which would wait "
                "for itself: use `await Job.aperform_now(...)` in async code"
            )
        for wrapper in _wrappers:
            coroutine = wrapper(coroutine)
        self.coroutine = coroutine
        if self.scope.context is None:
            self.scope.context = contextvars.copy_context()  # logging tags and other context variables reach it
        if self.owner is not None and self.owner.inline:
            if threading.current_thread() is not threading.main_thread():
                coroutine.close()
                raise RuntimeError(
                    "an async job was run from another thread of a prefork pool process, whose event loop its "
                    "main thread runs: run it from the job's own thread, or enqueue it"
                )
            self.loop = loop
            return True
        if self.owner is not None:
            self.owner.pending.add(self.done)
        loop.call_soon_threadsafe(self._submit)
        self.loop = loop  # set once the submit is queued: a limit before this point closes the coroutine
        return False

    def _run_inline(self) -> Any:
        """Run the coroutine on this thread's loop (a prefork child). billiard's soft-limit signal, which
        would raise inside the loop's machinery, cancels the task instead while the loop runs."""
        loop = self.loop
        assert loop is not None
        task = loop.create_task(_contained(self.coroutine), context=self.scope.context)
        self.scope.task = task
        limited: list[bool] = []

        def on_soft_limit(signum: int, frame: Any) -> None:
            # Runs in this (main) thread, which the kernel gives a process's signal to first: its select()
            # is interrupted, this runs, and the cancel's wake-up makes the retried select() return.
            limited.append(True)
            loop.call_soon_threadsafe(task.cancel, "soft time limit")

        billiards = signal.signal(signal.SIGUSR1, on_soft_limit)  # ~1 µs; asyncio's add_signal_handler: 140
        try:
            try:
                result = loop.run_until_complete(task)
            finally:
                signal.signal(signal.SIGUSR1, billiards)
        except SoftTimeLimitExceeded:  # billiard's signal came just before ours was in place
            limited.append(True)
            task.cancel("soft time limit")
            with contextlib.suppress(BaseException):
                loop.run_until_complete(task)
        except asyncio.CancelledError:
            if not limited:
                raise JobCancelled("the job's coroutine was cancelled") from None
        except Exception as error:
            if not limited:
                raise
            raise SoftTimeLimitExceeded("soft time limit: the coroutine was cancelled at its current await") from error
        if limited:
            raise SoftTimeLimitExceeded("soft time limit: the coroutine was cancelled at its current await")
        return result

    def _submit(self) -> None:  # on the loop
        loop, scope = self.loop or _running_loop(), self.scope
        try:
            assert loop is not None
            task = loop.create_task(_contained(self.coroutine), context=scope.context)
        except BaseException as exc:  # a task factory that refuses it: the job fails, it does not hang
            self.coroutine.close()
            self.done.set_exception(exc if isinstance(exc, Exception) else RuntimeError(repr(exc)))
            return
        self.tasks.append(task)
        scope.task = task
        task.add_done_callback(lambda finished: _settle(self.done, finished))

    def _cancel(self, reason: str) -> Any:
        """Cancel the coroutine at its await, wait for it to end (until the hard limit + 1 s), raise the limit's."""
        message = f"{reason} time limit"
        assert self.loop is not None  # handed over (a limit before that is raised by result())
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: the pending wait was failed
            self.loop.call_soon_threadsafe(lambda: [task.cancel(message) for task in self.tasks])
        if reason == "soft" and self.hard is None:
            grace = None
        else:
            until = self.hard if reason == "soft" and self.hard is not None else time.monotonic()
            grace = max(0.0, until - time.monotonic()) + HARD_LIMIT_GRACE_S
        try:
            self.done.exception(timeout=grace)  # it ended: cancelled at its await, or an error in its finally
        except TimeoutError:
            name = getattr(self.coroutine, "__qualname__", "its coroutine")
            raise TimeLimitExceeded(
                f"the job's coroutine ignored its cancellation at the {message} and still runs on the event "
                f"loop after the hard limit; it was left there ({name} goes on)"
            ) from None
        if reason == "hard":
            raise TimeLimitExceeded("hard time limit: the coroutine was cancelled at its current await")
        raise SoftTimeLimitExceeded(f"{message}: the coroutine was cancelled at its current await")


async def _awaitable(hook: LoopHook) -> None:
    await hook()


async def _contained(coroutine: Coroutine[Any, Any, T]) -> T:
    # SystemExit or KeyboardInterrupt out of a task would end the loop's thread, and every job on it
    # would wait for ever: the job fails with it instead.
    try:
        return await coroutine
    except (SystemExit, KeyboardInterrupt) as exc:
        raise JobCancelled(f"the job's coroutine raised {exc!r}") from exc


def _settle(done: concurrent.futures.Future[Any], task: asyncio.Task[Any]) -> None:
    if task.cancelled():
        # Not by a time limit of this module (that one is raised above): by the job itself, or at shutdown.
        # asyncio's CancelledError is a BaseException that would stop Celery's worker: an Exception here.
        done.set_exception(JobCancelled("the job's coroutine was cancelled"))
    elif (error := task.exception()) is not None:
        done.set_exception(error)
    else:
        done.set_result(task.result())


class JobCancelled(Exception):
    """The coroutine of a job was cancelled, not by a time limit (the job, or the loop stopping)."""


def pool_enforces_time_limits() -> bool:
    """True in a prefork child's main thread: billiard signals the soft limit and ends the process at the hard one.

    There conveyor keeps no deadline of its own: two clocks for one limit would race, and the
    second would interrupt the job's retry after the first cancelled its coroutine.
    """
    from billiard.pool import SIG_SOFT_TIMEOUT, soft_timeout_sighandler

    return (
        SIG_SOFT_TIMEOUT is not None
        and threading.current_thread() is threading.main_thread()
        and signal.getsignal(SIG_SOFT_TIMEOUT) is soft_timeout_sighandler
    )


def _remaining(deadline: float | None) -> float | None:
    return None if deadline is None else max(0.0, deadline - time.monotonic())


def running_in_a_coroutine() -> bool:
    """True in code an event loop runs (a job's coroutine), where Celery's per-thread request is not the job's."""
    return _running_loop() is not None


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None
