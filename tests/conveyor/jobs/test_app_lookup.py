"""``conveyor.jobs.app_lookup``: a job's task name, and the app jobs go through (``current_app``).

``task_name``: ``"<module>.<ClassName>"``, or the class's own ``_task_name`` pin, computed once per class.
``current_app``: a running task's app inside a task, else Celery's current app.
"""

from __future__ import annotations

from typing import Any

import pytest
from celery import Celery

import conveyor
from conveyor import Job
from conveyor.jobs.app_lookup import current_app, task_name


class AppProbeJob(Job):
    """Returns the app it sees while it runs."""

    def perform(self) -> str:
        return str(current_app().main)


@pytest.fixture
def other_app() -> Celery:
    """A second configured app, not made current, on an in-memory broker."""
    return conveyor.configure(Celery("other", set_as_current=False), default=False, broker_url="memory://")


def test_a_job_is_named_after_its_module_and_class() -> None:
    class NamedJob(Job):
        def perform(self) -> None: ...

    assert task_name(NamedJob) == f"{__name__}.NamedJob"


def test_a_pinned_name_wins_and_a_pin_that_is_not_a_string_is_ignored() -> None:
    # Given a class pinning its old name, and one whose pin is not a name
    class MovedJob(Job):
        _task_name = "legacy.tasks.ExportJob"

        def perform(self) -> None: ...

    class OddPinJob(Job):
        _task_name = 5

        def perform(self) -> None: ...

    # Then the pinned name is the task name; a non-string pin falls back to module and class
    assert task_name(MovedJob) == "legacy.tasks.ExportJob"
    assert task_name(OddPinJob) == f"{__name__}.OddPinJob"


def test_the_pinned_name_is_the_one_the_task_is_registered_under(celery_app: Celery) -> None:
    class PinnedJob(Job):
        _task_name = "legacy.tasks.PinnedJob"

        def perform(self) -> None: ...

    assert celery_app.tasks["legacy.tasks.PinnedJob"].job_class is PinnedJob


def test_a_name_is_computed_once_per_class() -> None:
    # Given a job class whose name was asked for once
    class OnceJob(Job):
        def perform(self) -> None: ...

    first = task_name(OnceJob)

    # When its module attribute changes afterwards / Then the name it is registered under stays
    OnceJob.__module__ = "elsewhere"
    assert task_name(OnceJob) == first == f"{__name__}.OnceJob"


def test_outside_a_task_the_current_app_is_celerys_current_app(celery_app: Celery, other_app: Celery) -> None:
    # Given the test app is current
    assert current_app() is celery_app

    # When another app is made current / Then that one is used
    other_app.set_current()
    try:
        assert current_app() is other_app
    finally:
        celery_app.set_current()


def test_inside_a_running_task_the_current_app_is_the_tasks_app(celery_app: Celery, other_app: Celery) -> None:
    # Given the test app is current, and the job's task on another app
    task: Any = other_app.tasks[task_name(AppProbeJob)]

    # When that task runs (traced as a worker runs it) / Then the job sees the task's app, not the current one
    assert task.apply().get() == "other"
    assert current_app() is celery_app
