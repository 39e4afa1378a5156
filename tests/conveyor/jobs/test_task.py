"""``conveyor.jobs.task``: each Job class is a Celery task on every app, and the task runs the job.

Registration on apps that exist (finalized or not) and on apps made later; registering again (a no-op);
the task's ``run`` handing the message's arguments to the job; ``ignore_result`` read per execution.
"""

from __future__ import annotations

from typing import Any

import pytest
from celery import Celery

import conveyor
from conveyor import Job
from conveyor.jobs.task import JobTask, register
from tests.jobs import CountJob, DataImportJob, DataProcessingJob


class StoringJob(Job):
    store_result = True

    def perform(self) -> None: ...


class DiscreetJob(Job):
    store_result = False

    def perform(self) -> None: ...


class FollowingJob(Job):
    def perform(self) -> None: ...


@pytest.fixture
def plain_app() -> Celery:
    """An app with conveyor's defaults (no results stored), on an in-memory broker: nothing leaves the process."""
    return conveyor.configure(Celery("plain", set_as_current=False), default=False, broker_url="memory://")


def test_jobs_are_celery_tasks_named_module_dot_class(celery_app: Any) -> None:
    task = celery_app.tasks["tests.jobs.DataImportJob"]
    assert task.job_class is DataImportJob
    assert task.max_retries is None  # conveyor counts attempts, not Celery


def test_a_job_defined_after_the_app_is_finalized_is_registered_too(celery_app: Any) -> None:
    assert celery_app.finalized

    class LateJob(Job):
        def perform(self) -> None: ...

    assert celery_app.tasks[f"{__name__}.LateJob"].job_class is LateJob


def test_an_app_made_after_the_job_class_gets_its_task_when_finalized() -> None:
    # Given an app made after tests.jobs was imported
    later = Celery("later", set_as_current=False)

    # When it is finalized / Then the job's task is there, a JobTask of that class
    later.finalize()
    task = later.tasks["tests.jobs.CountJob"]
    assert isinstance(task, JobTask)
    assert task.job_class is CountJob
    assert task.name == "tests.jobs.CountJob"


def test_registering_a_class_again_keeps_its_task(celery_app: Celery) -> None:
    # Given a registered job's task / When the class is registered again
    task = celery_app.tasks["tests.jobs.CountJob"]
    register(CountJob)

    # Then the app still has the same task object
    assert celery_app.tasks["tests.jobs.CountJob"] is task


def test_the_task_runs_perform_with_the_messages_arguments_and_returns_its_value(plain_app: Celery) -> None:
    # Given the task of a job whose perform doubles its argument
    task = plain_app.tasks["tests.jobs.DataProcessingJob"]

    # When Celery runs it (eagerly, as a worker would trace it) / Then perform's value is the task's
    assert task.apply(args=(21,)).get() == 42
    assert task.job_class is DataProcessingJob


def test_ignore_result_follows_the_job_class_and_the_apps_setting_read_at_each_execution(plain_app: Celery) -> None:
    # Given an app that stores no results by default
    storing, discreet, following = (
        plain_app.tasks[f"{__name__}.{name}"] for name in ("StoringJob", "DiscreetJob", "FollowingJob")
    )

    # Then a class's own declaration decides, and a class declaring nothing follows the app
    assert (storing.ignore_result, discreet.ignore_result, following.ignore_result) == (False, True, True)

    # When the app's setting changes after the classes were defined
    plain_app.conf.conveyor_store_results = True
    conveyor.settings.forget(plain_app)

    # Then the class that declares nothing follows it; the others keep their own
    assert (storing.ignore_result, discreet.ignore_result, following.ignore_result) == (False, True, False)
