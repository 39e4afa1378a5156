"""Which Celery app a job goes through, and the task name it has there.

Declarations need both (``Core.async_result``, the enqueue path, the schedule file) and
none of them needs the worker: the task class the worker runs is ``conveyor.jobs.task``.

Example::

    current_app().conf.broker_url        # the configured app, or a running task's
    task_name(ReportGenerationJob)       # 'tasks.report_generation_job.ReportGenerationJob'
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

from celery import Celery

from conveyor.compat import celery as celery_compat

__all__ = [
    "TASK_NAME_ATTR",
    "current_app",
    "current_worker_request",
    "current_worker_task",
    "running_task",
    "task_name",
]


def current_app() -> Celery:
    """The app jobs are enqueued through.

    Inside a running task, that task's app (a job enqueuing jobs); otherwise Celery's
    current app, as for ``@shared_task``: the thread's, else the process default, which
    ``conveyor.configure`` sets, so threads of a web server or of Flower use the
    configured app and not an unconfigured default one.
    """
    task = current_worker_task()
    if task is not None:
        return task.app  # type: ignore[no-any-return]
    return celery_compat.current_app()


#: The task a job runs as and its request, for its code outside the worker's thread (an ``async def
#: perform`` on the event loop, a send in an executor thread): Celery keeps both per thread.
running_task: ContextVar[tuple[Any, Any] | None] = ContextVar("conveyor_running_task", default=None)


def current_worker_task() -> Any:
    """The Celery task running this code, in the worker's thread or in a job's coroutine; or None."""
    task = celery_compat.current_worker_task()
    if task is not None:
        return task
    running = running_task.get()
    return running[0] if running is not None else None


def current_worker_request() -> Any:
    """That task's request (its ids), wherever this code runs; or None."""
    task = celery_compat.current_worker_task()
    if task is not None:
        return task.request
    running = running_task.get()
    return running[1] if running is not None else None


#: A class attribute naming the task explicitly. Messages and schedules store the task name,
#: so a job class that moves to another module keeps its old name with it (not inherited).
TASK_NAME_ATTR = "_task_name"


def task_name(job_cls: type) -> str:
    """``"<module>.<ClassName>"``, or the name the class pins with ``_task_name``.

    Computed once per class (every enqueue asks): a class's module, name and pin do not change
    once it is registered under that name.
    """
    name = _names.get(job_cls)
    if name is None:
        pinned = job_cls.__dict__.get(TASK_NAME_ATTR)
        name = _names[job_cls] = pinned if isinstance(pinned, str) else f"{job_cls.__module__}.{job_cls.__name__}"
    return name


_names: dict[type, str] = {}
