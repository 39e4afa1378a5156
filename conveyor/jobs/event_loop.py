"""One event loop per process for ``async def perform``: started once, reused by every async job.

``asyncio.run`` in each job makes a new loop per job, so a client made once and reused
(``httpx.AsyncClient``, ``redis.asyncio``, an ``AsyncEngine``) fails on the second job with
"attached to a different loop" or "Event loop is closed". Here, as in dramatiq, each process has
one long-lived loop in a thread of its own (``conveyor-event-loop``), started at the first async
job of the process (after the fork, in a prefork child) and stopped at the worker's shutdown. The
worker thread that runs a job submits each coroutine of the job (``perform``, async callbacks and
handlers) to that loop and waits for it; everything else of the job (arguments, callbacks'
order, ``retry_on``/``discard_on``, continuations, locks) is the sync path every job takes. Under
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
    "LoopHook",
    "on_loop_start",
    "on_loop_stop",
    "pool_enforces_time_limits",
    "process_loop",
    "run",
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
        return cast(H, function)

    register.__name__ = kind
    return register


on_loop_start = _hook("on_loop_start", _start_hooks)
on_loop_start.__doc__ = """Run ``async def function()`` on each process's loop when it starts, before its first job."""
on_loop_stop = _hook("on_loop_stop", _stop_hooks)
on_loop_stop.__doc__ = """Run ``async def function()`` on each process's event loop when the worker stops."""


class ProcessLoop:
    """This process's loop and the thread that runs it."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.loop = asyncio.new_event_loop()
        self._started = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="conveyor-event-loop", daemon=True)

    def start(self) -> None:
        self._thread.start()
        self._started.wait()
        if self._error is not None:
            raise RuntimeError(f"an @on_loop_start function failed: {self._error!r}") from self._error

    @property
    def alive(self) -> bool:
        return self._thread.is_alive() and self.pid == os.getpid()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            for hook in list(_start_hooks):
                self.loop.run_until_complete(hook())
        except BaseException as exc:  # reported to the job that started the loop; the next one tries again
            self._error = exc
            self._started.set()
            self._close()
            return
        self._started.set()
        self.loop.run_forever()
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

    def stop(self) -> None:
        if self._thread.is_alive():
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
            fresh = ProcessLoop()
            fresh.start()  # raises if an @on_loop_start function failed: that job fails, the next tries again
            if not _at_exit:  # perform_now in a script or a test session: the stop hooks run at its exit
                atexit.register(stop_process_loop)
                _at_exit.append(True)
            _current = fresh
        return _current


def stop_process_loop() -> None:
    """Run the @on_loop_stop functions and close this process's loop (at the worker's shutdown)."""
    global _current
    with _lock:
        current, _current = _current, None
    if current is not None and current.pid == os.getpid():
        current.stop()


def running_on(loop: asyncio.AbstractEventLoop) -> Callable[[], Any]:
    """For ``aperform_now``: run the current context's coroutines on ``loop``; returns the reset."""
    token = _callers_loop.set(loop)
    return lambda: _callers_loop.reset(token)


T = TypeVar("T")


def run(coroutine: Coroutine[Any, Any, T], soft_deadline: float | None = None, hard_deadline: float | None = None) -> T:
    """Run ``coroutine`` on this process's loop (the caller's, in ``aperform_now``) and return its value.

    Deadlines are ``time.monotonic()`` values: past ``soft_deadline`` the coroutine is cancelled and
    ``SoftTimeLimitExceeded`` raised; one that is still running at ``hard_deadline`` (+ 1 s) is left
    behind and ``TimeLimitExceeded`` raised.
    """
    try:
        loop = _callers_loop.get() or process_loop().loop
    except BaseException:
        coroutine.close()  # never awaited: no "coroutine was never awaited" warning on top of the error
        raise
    if _running_loop() is loop:
        coroutine.close()
        raise RuntimeError(
            "a job with async def perform was run synchronously from its own event loop, which would wait for "
            "itself: use `await Job.aperform_now(...)` in async code"
        )
    for wrapper in _wrappers:
        coroutine = wrapper(coroutine)
    context = contextvars.copy_context()  # logging tags and other context variables reach the coroutine
    done: concurrent.futures.Future[T] = concurrent.futures.Future()
    tasks: list[asyncio.Task[T]] = []

    def submit() -> None:
        task = loop.create_task(coroutine, context=context)
        tasks.append(task)
        task.add_done_callback(lambda finished: _settle(done, finished))

    loop.call_soon_threadsafe(submit)
    try:
        return done.result(timeout=_remaining(soft_deadline))
    except TimeoutError:
        if done.done():
            raise  # the coroutine's own TimeoutError (asyncio.TimeoutError is TimeoutError)
        reason = "soft time limit"
    except SoftTimeLimitExceeded:
        reason = "soft time limit"  # billiard's signal, in a prefork child
    loop.call_soon_threadsafe(lambda: [task.cancel(reason) for task in tasks])
    grace = None if hard_deadline is None else max(0.0, hard_deadline - time.monotonic()) + HARD_LIMIT_GRACE_S
    try:
        done.exception(timeout=grace)  # it ended: cancelled at its await, or an error in its finally
    except TimeoutError:
        name = getattr(coroutine, "__qualname__", "its coroutine")
        raise TimeLimitExceeded(
            f"the job's coroutine ignored its cancellation at the soft time limit and still runs on the event "
            f"loop after the hard limit; it was left there ({name} goes on)"
        ) from None
    raise SoftTimeLimitExceeded(f"{reason}: the coroutine was cancelled at its current await")


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


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None
