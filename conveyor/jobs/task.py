"""Each Job class is a Celery task named ``"<module>.<ClassName>"``.

Registration works like ``@shared_task``: the task is added to every Celery app
that exists or is created later, so ``celery -A app worker``, Flower and
``celery inspect registered`` show job class names. The task's ``run`` hands
the message to the job class (``Job._perform_from_worker``).
"""

from __future__ import annotations

from typing import Any, ClassVar, Protocol

from celery import Celery, Task

from conveyor.compat import celery as celery_compat
from conveyor.jobs.app_lookup import current_app, task_name  # noqa: F401 - 0.2's names, kept importable here
from conveyor.jobs.worker_lost import JobRequest

__all__ = ["JobTask", "Performer", "register"]


class Performer(Protocol):
    """What the task needs of its job class (``conveyor.jobs.execution`` provides it; the task sits below)."""

    @classmethod
    def _stores_result(cls, app: Any) -> bool: ...
    @classmethod
    def _perform_from_worker(cls, task: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any: ...


class JobTask(Task):  # type: ignore[misc]
    """Base of the Celery task made for each Job class."""

    job_class: ClassVar[type[Performer]]
    #: conveyor counts attempts per retry_on declaration; Celery's own limit
    #: (default 3) would otherwise stop every job after 4 runs.
    max_retries = None
    #: The wait before the retry Celery sends when a pool child died mid-job
    #: (task_retry_on_worker_lost); Celery's default is 3 minutes.
    default_retry_delay = 1
    #: Arguments arrive serialized; the job class checks them against perform()
    #: at enqueue, before anything is sent.
    typing = False
    #: Counts pool-process deaths: a job that kills its process goes to the dead set at the third.
    Request = JobRequest
    #: A failure is stored even for a job that stores no result (``celery result`` shows it).
    store_errors_even_if_ignored = True

    @property  # type: ignore[override]
    def ignore_result(self) -> bool:
        # Jobs store no result unless the job or the app asks (Job.store_result): read per
        # execution, so conveyor_store_results set after the job class was defined counts.
        return not self.job_class._stores_result(self.app)

    def run(self, *args: Any, **kwargs: Any) -> Any:
        return self.job_class._perform_from_worker(self, args, kwargs)


def register(job_cls: type[Performer]) -> None:
    """Register ``job_cls`` as a task with every current and future Celery app."""
    name = task_name(job_cls)

    def attach(app: Celery) -> None:
        existing = celery_compat.registered_task(app, name)
        if existing is not None and getattr(existing, "job_class", None) is job_cls:
            return
        task_cls = type(
            f"{job_cls.__name__}Task",
            (JobTask,),
            {
                "name": name,
                "job_class": job_cls,
                "__module__": job_cls.__module__,
                "__doc__": job_cls.__doc__,
                # the job's own time limits; None leaves Celery's (task_soft_time_limit, task_time_limit)
                **{
                    limit: value
                    for limit in ("soft_time_limit", "time_limit")
                    if (value := getattr(job_cls, limit, None)) is not None
                },
            },
        )
        app.register_task(task_cls())

    celery_compat.on_app_finalize(attach)
    for app in celery_compat.active_apps():
        if app.finalized:
            with celery_compat.finalize_lock(app):
                attach(app)
