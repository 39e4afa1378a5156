"""Celery's private names conveyor uses, and the accessors the rest of conveyor calls.

- ``celery._state``: the current worker task and app (``conveyor.jobs.app_lookup.current_app``),
  the finalize hook and the live apps (a Job class registers as a task like ``@shared_task``).
- ``Celery._tasks`` / ``_finalize_mutex``: attaching a job's task to an app already finalized.
- ``Consumer.on_unknown_task`` and friends: overridden by ``conveyor.broker.fetch.consumer``.
- ``WorkController.wait_for_soft_shutdown``: wrapped per worker by ``conveyor.jobs.stopping``
  (the start of a soft-shutdown window, which no signal announces).

Example::

    task = current_worker_task()       # None outside a running task
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from celery import Celery, _state

from conveyor.compat.guard import Guard, require_attributes

__all__ = [
    "APP_ATTRIBUTES",
    "GUARD",
    "active_apps",
    "check_app",
    "current_app",
    "current_worker_task",
    "finalize_lock",
    "on_app_finalize",
    "registered_task",
    "soft_shutdown_wait",
]

GUARD = Guard(
    "celery",
    "celery._state",
    {"": ("get_current_worker_task", "get_current_app", "connect_on_app_finalize", "_get_active_apps")},
    tested=">=5.7,<5.8",
    extra_modules={
        "celery": {"Celery": ("thread_oid", "producer_or_acquire")},
        # the pytest plugin unwraps celery.current_app (a Proxy) to the app object itself
        "celery.local": {"Proxy": ("_get_current_object",)},
        "celery.app.amqp": {"AMQP": ("create_task_message", "send_task_message")},
        "celery.worker.request": {"Request": ("_retry_worker_lost", "task", "task_name", "id", "message")},
        "celery.worker.worker": {"WorkController": ("wait_for_soft_shutdown",)},
        # conveyor.broker.event_batches and conveyor.broker.results build on these.
        "celery.events.dispatcher": {"EventDispatcher": ("flush", "send")},
        "celery.backends.redis": {
            "RedisBackend": ("_store_result", "_get_result_meta", "get_key_for_task", "ensure", "_MAX_STR_VALUE_SIZE")
        },
        "celery.worker.consumer": {
            "Consumer": ("on_unknown_task", "on_unknown_message", "on_invalid_task", "on_decode_error")
        },
    },
)


#: Set in ``Celery.__init__``, so checked on the app itself (``check_app``).
APP_ATTRIBUTES = ("_tasks", "_finalize_mutex")


def check_app(app: Celery) -> None:
    """Check the instance attributes conveyor reads on ``app``."""
    require_attributes(app, APP_ATTRIBUTES, "celery")


def current_worker_task() -> Any:
    """The task running in this thread, or None."""
    return _state.get_current_worker_task()


def current_app() -> Celery:
    """Celery's current app: the thread's, else the process default."""
    return _state.get_current_app()


def on_app_finalize(callback: Callable[[Celery], None]) -> None:
    """Call ``callback`` with every app when it is finalized (as ``@shared_task`` does)."""
    _state.connect_on_app_finalize(callback)


def active_apps() -> Iterable[Celery]:
    return _state._get_active_apps()  # type: ignore[no-any-return]


def registered_task(app: Celery, name: str) -> Any:
    """The task ``name`` registered on ``app`` without finalizing it (``app.tasks`` would)."""
    return app._tasks.get(name)


def finalize_lock(app: Celery) -> Any:
    return app._finalize_mutex


def soft_shutdown_wait(worker: Any) -> Callable[[], Any]:
    """The worker's own ``wait_for_soft_shutdown`` (Celery >= 5.5), to be wrapped."""
    return worker.wait_for_soft_shutdown  # type: ignore[no-any-return]
