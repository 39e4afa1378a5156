"""Which Celery app a job goes through, and the task name it has there.

Declarations need both (``Core.async_result``, the enqueue path, the schedule file) and
none of them needs the worker: the task class the worker runs is ``conveyor.jobs.task``.

Example::

    current_app().conf.broker_url        # the configured app, or a running task's
    task_name(ReportGenerationJob)       # 'tasks.report_generation_job.ReportGenerationJob'
"""

from __future__ import annotations

from celery import Celery

from conveyor.compat import celery as celery_compat

__all__ = ["TASK_NAME_ATTR", "current_app", "task_name"]


def current_app() -> Celery:
    """The app jobs are enqueued through.

    Inside a running task, that task's app (a job enqueuing jobs); otherwise Celery's
    current app, as for ``@shared_task``: the thread's, else the process default, which
    ``conveyor.configure`` sets, so threads of a web server or of Flower use the
    configured app and not an unconfigured default one.
    """
    task = celery_compat.current_worker_task()
    if task is not None:
        return task.app  # type: ignore[no-any-return]
    return celery_compat.current_app()


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
