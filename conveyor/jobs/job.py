"""``Job``: an ActiveJob-style background job on Celery.

A tour::

    from conveyor import Job, retry_on, discard_on, before_perform

    @retry_on(ConnectionError, wait=5, attempts=3)       # conveyor.jobs.error_handling
    @discard_on(RecordNotFound)
    class ReportGenerationJob(Job):
        queue_as = "low_priority"                        # conveyor.jobs.queue_name
        priority = 5                                     # conveyor.jobs.priority
        log_arguments = True                             # conveyor.jobs.logs

        @before_perform                                  # conveyor.jobs.callbacks
        def log_start(self):
            self.logger.info("Starting job %s", self.job_id)

        def perform(self, report_id: int) -> None:       # conveyor.jobs.execution
            ...

    ReportGenerationJob.perform_later(42)                # conveyor.jobs.enqueuing
    ReportGenerationJob.set(wait=3600).perform_later(42)
    ReportGenerationJob.perform_now(42)

``Job`` holds no logic of its own: it combines one mixin per concept and, when
a subclass is defined, validates its declarations and registers it as the
Celery task ``"<module>.<ClassName>"`` (``conveyor.jobs.task``). A class with
``abstract = True`` in its body, or without ``perform``, is a base class for
other jobs and is not registered.
"""

from __future__ import annotations

from typing import Any, ClassVar

from conveyor.errors import DeclarationError
from conveyor.jobs.callbacks import collect_chains
from conveyor.jobs.enqueuing import Enqueuing
from conveyor.jobs.execution import Execution
from conveyor.jobs.priority import QueuePriority
from conveyor.jobs.queue_name import QueueName
from conveyor.jobs.task import register

__all__ = ["Job"]

# Class attributes that look like options but are not conveyor's, with the fix.
_MISTAKES = {
    "queue": "declare queue_as = 'name'",
    "queue_name": "declare queue_as = 'name' (queue_name is set per job at enqueue)",
    "max_retries": "use @retry_on(SomeError, attempts=N)",
    "autoretry_for": "use @retry_on(SomeError, ...)",
    "retry_backoff": "use @retry_on(SomeError, wait=polynomially_longer)",
    "default_retry_delay": "use @retry_on(SomeError, wait=seconds)",
}


class Job(QueueName, QueuePriority, Enqueuing, Execution):
    """Base class of background jobs; see the module docstring for a tour."""

    abstract: ClassVar[bool] = True

    def perform(self, *args: Any, **kwargs: Any) -> Any:
        """The job's work; override it. Its arguments are the job's arguments."""
        raise NotImplementedError(f"{type(self).__qualname__} must define perform(self, ...)")

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for name, fix in _MISTAKES.items():
            if name in cls.__dict__:
                raise DeclarationError(f"{cls.__qualname__}.{name} is not a conveyor option: {fix}")
        if "__init__" in cls.__dict__:
            raise DeclarationError(
                f"{cls.__qualname__} defines __init__: a job is created with perform()'s arguments, so put the "
                "work in perform() and per-job set-up in a @before_perform callback"
            )
        _check_time_limits(cls)
        log_arguments = cls.__dict__.get("log_arguments")
        if log_arguments is not None and not isinstance(log_arguments, bool):
            raise DeclarationError(f"{cls.__qualname__}.log_arguments must be True or False, got {log_arguments!r}")
        store_result = cls.__dict__.get("store_result")
        if store_result is not None and not isinstance(store_result, bool):
            raise DeclarationError(f"{cls.__qualname__}.store_result must be True or False, got {store_result!r}")
        cls._check_queue_as()
        cls._check_priority()
        cls._check_continuable()
        cls._inspect_perform()
        cls._chains = collect_chains(cls)
        if not cls.__dict__.get("abstract", False) and cls.perform is not Job.perform:
            register(cls)


Job._inspect_perform()
Job._chains = collect_chains(Job)


def _check_time_limits(cls: type[Job]) -> None:
    soft, hard = cls.soft_time_limit, cls.time_limit
    for name, value in (("soft_time_limit", soft), ("time_limit", hard)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float) or value <= 0):
            raise DeclarationError(f"{cls.__qualname__}.{name} must be a number of seconds > 0, got {value!r}")
    if soft is not None and hard is not None and soft >= hard:
        raise DeclarationError(
            f"{cls.__qualname__}: soft_time_limit ({soft}) must be less than time_limit ({hard}): the soft limit "
            "interrupts the job so it can clean up, the hard one ends it"
        )
