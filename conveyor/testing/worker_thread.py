"""A real Celery worker in a thread of the test process, which fails loudly instead of hanging.

Celery's ``start_worker`` waits for its worker without a time limit: a worker that stops before
it is ready (a bootstep that raises, an unreachable broker) leaves the test waiting forever. And
when a worker's thread does not end within ``shutdown_timeout``, it raises but leaves Celery's
process-wide ``state.should_terminate`` set, so every later worker of the process ends as soon as
it starts — and waits forever too: one slow shutdown turned into 35 timed-out tests in CI.

``worker_thread`` waits ``start_timeout`` seconds at most and raises with the worker's own error;
a worker that did not end in time is remembered, and the next ``worker_thread`` waits for it
(``leftover_timeout``) and puts Celery's state back once it has ended, or names it.

Example::

    with worker_thread(app, queues=["default"]):
        ReportGenerationJob.perform_later(42).async_result.get(timeout=10)
"""

from __future__ import annotations

import contextlib
import sys
import threading
import traceback
from collections.abc import Iterator, Sequence
from typing import Any

from celery import Celery
from celery.contrib.testing.worker import TestWorkController, start_worker
from celery.worker import state as worker_state

__all__ = ["worker_thread"]

#: Seconds a worker has to be ready (connected, consuming) before ``worker_thread`` gives up.
START_TIMEOUT_S = 60.0
#: Seconds a worker has to end once its block is left (Celery's default is 10 s; a shared CI machine is slower).
SHUTDOWN_TIMEOUT_S = 30.0
#: Seconds the next ``worker_thread`` waits for a worker of an earlier one that had not ended.
LEFTOVER_TIMEOUT_S = 60.0

_unended: list[threading.Thread] = []


class _Worker(TestWorkController):  # type: ignore[misc]
    """Celery's test worker, which tells its waiter when it stops before it is ready, and why."""

    __test__ = False
    start_timeout = START_TIMEOUT_S

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.ready = False
        self.error: BaseException | None = None
        self.thread: threading.Thread | None = None
        self.ready_or_ended = threading.Event()
        super().__init__(*args, **kwargs)

    def start(self) -> Any:
        self.thread = threading.current_thread()
        try:
            return super().start()
        finally:
            self.ready_or_ended.set()  # ready or not: ensure_started must not wait for ever

    def on_consumer_ready(self, consumer: Any) -> None:
        self.ready = True
        self.ready_or_ended.set()
        super().on_consumer_ready(consumer)

    def stop(self, *args: Any, **kwargs: Any) -> Any:
        # WorkController.start logs an unrecoverable error and calls stop() inside its except block.
        if not self.ready and self.error is None:
            self.error = sys.exc_info()[1]
        return super().stop(*args, **kwargs)

    def ensure_started(self) -> None:
        if not self.ready_or_ended.wait(self.start_timeout):
            raise RuntimeError(f"the worker was not ready within {self.start_timeout:g} s: {_stack_of(self.thread)}")
        if not self.ready:
            cause = f"{type(self.error).__name__}: {self.error}" if self.error else "see its log above"
            raise RuntimeError(f"the worker stopped before it was ready ({cause})") from self.error


@contextlib.contextmanager
def worker_thread(
    app: Celery,
    queues: Sequence[str] | None = None,
    *,
    start_timeout: float = START_TIMEOUT_S,
    shutdown_timeout: float = SHUTDOWN_TIMEOUT_S,
    leftover_timeout: float = LEFTOVER_TIMEOUT_S,
    **options: Any,
) -> Iterator[Any]:
    """A real Celery worker in a thread (solo pool) against the app's real broker.

    It consumes ``queues``, or the app's configured queues in their order. Celery
    remembers a worker's queue selection on the app; it is put back afterwards so
    the next worker of the same app consumes what it should.
    """
    _wait_for_unended(leftover_timeout)
    selection = app.amqp.queues
    consume_from = selection._consume_from
    options = {"pool": "solo", "concurrency": 1, "perform_ping_check": False, "loglevel": "WARNING", **options}
    worker: _Worker | None = None

    class Worker(_Worker):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            nonlocal worker
            super().__init__(*args, **kwargs)
            self.start_timeout = start_timeout
            worker = self

    try:
        with start_worker(
            app,
            queues=list(queues) if queues else None,
            WorkController=Worker,
            shutdown_timeout=shutdown_timeout,
            **options,
        ) as started:
            yield started
    finally:
        selection._consume_from = consume_from
        thread = worker.thread if worker is not None else None
        if thread is not None and thread.is_alive():
            _unended.append(thread)  # Celery left should_terminate set for it: the next worker_thread waits


def _wait_for_unended(timeout: float) -> None:
    # A worker of an earlier block had not ended when it was left: Celery's process-wide stop flags
    # are still set for it, and would end the new worker at once.
    if not _unended:
        return
    for thread in list(_unended):
        thread.join(timeout)
        if thread.is_alive():
            raise RuntimeError(
                f"a worker thread started by an earlier worker_thread has not ended after {timeout:g} s more "
                f"(a job that does not return?): {_stack_of(thread)}"
            )
        _unended.remove(thread)
    worker_state.should_terminate = None
    worker_state.should_stop = None


def _stack_of(thread: threading.Thread | None) -> str:
    frame = sys._current_frames().get(thread.ident) if thread is not None and thread.ident is not None else None
    if frame is None:
        return "its thread has ended"
    where = traceback.extract_stack(frame)[-3:]
    return "it is at " + " <- ".join(f"{entry.name} ({entry.filename}:{entry.lineno})" for entry in reversed(where))
