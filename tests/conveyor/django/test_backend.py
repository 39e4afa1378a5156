"""``django.tasks`` on conveyor: @task functions enqueued from Django run on a real conveyor worker."""

from __future__ import annotations

import datetime as dt
import json
import sys
import time
from typing import Any

import pytest

from conveyor.django.backend import conveyor_priority
from tests.integration.services import Service

pytestmark = [pytest.mark.redis, pytest.mark.processes]


def wait_for_status(result: Any, status: str, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        result.refresh()
        if str(result.status) == status:
            return
        assert time.monotonic() < deadline, f"{result.id} is {result.status}, not {status}"
        time.sleep(0.05)  # polled as Django's API is used: refresh() reads the backend


def test_priority_maps_the_right_way_round() -> None:
    # Django: larger runs sooner (-100..100); conveyor: 0 is the most urgent (0..9)
    mapped = [conveyor_priority(p) for p in range(100, -101, -1)]
    assert mapped[0] == 0
    assert mapped[-1] == 9
    assert conveyor_priority(0) is None  # the queue's default
    assert mapped == sorted(mapped, key=lambda p: 5 if p is None else p)  # never inverted


def test_a_task_enqueued_from_a_view_runs_on_the_worker_and_its_result_goes_ready_running_successful(
    project_worker: Service,
) -> None:
    from django.test import Client
    from reports.models import Report
    from reports.tasks import add, slow_add

    from conveyor.django.tasks_api import TaskResultStatus

    response = Client().get("/enqueue-add/", {"a": 2, "b": 3})
    assert response.status_code == 200
    body = json.loads(response.content)
    assert body["status"] == str(TaskResultStatus.READY)
    result = add.get_result(body["id"])
    wait_for_status(result, "SUCCESSFUL")
    assert result.return_value == 5
    assert result.enqueued_at is not None
    assert result.started_at is not None
    assert result.finished_at is not None
    assert result.enqueued_at <= result.started_at <= result.finished_at
    assert len(result.worker_ids) == 1
    assert result.attempts == 1
    assert result.errors == []

    Report.objects.create(title="slow")  # slow_add sleeps a second per "slow" row
    running = slow_add.enqueue(1, 2)
    assert str(running.status) == "READY"
    wait_for_status(running, "RUNNING")
    wait_for_status(running, "SUCCESSFUL")
    assert running.return_value == {"sum": 3, "attempt": 1}  # TaskContext.attempt


def test_a_failing_task_is_failed_with_its_traceback_and_goes_to_the_dead_set(project_worker: Service) -> None:
    import redis
    from reports.tasks import fail

    from conveyor.keys import DEAD_JOBS_KEY
    from tests.conftest import TEST_REDIS_URL

    result = fail.enqueue("on purpose")
    wait_for_status(result, "FAILED")
    [error] = result.errors
    assert error.exception_class_path == "builtins.ValueError"
    assert "failed on purpose: on purpose" in error.traceback
    assert "Traceback (most recent call last)" in error.traceback
    with pytest.raises(ValueError, match="Task failed"):  # Django's own refusal
        _ = result.return_value
    project_worker.wait_for(f"DjangoTaskJob[{result.id}] raised unexpected", timeout_s=30)
    assert redis.Redis.from_url(TEST_REDIS_URL).hexists(DEAD_JOBS_KEY, result.id)


def test_priority_100_overtakes_a_backlog_of_priority_0(project_app: Any, rows: None) -> None:
    from reports.models import Report
    from reports.tasks import record

    from tests.conveyor.django.conftest import PROJECT, project_env

    for n in range(30):
        record.enqueue(f"backlog-{n}")
    urgent = record.using(priority=100).enqueue("urgent")
    argv = [sys.executable, "-m", "celery", "-A", "proj", "worker", "-P", "solo", "-Q", "default,django_tasks"]
    worker = Service([*argv, "-l", "INFO"], env=project_env(), cwd=PROJECT)
    try:
        wait_for_status(urgent, "SUCCESSFUL")
    finally:
        worker.stop()
    order = [report.title for report in Report.objects.order_by("id")]
    assert order[0] == "urgent", order[:5]


def test_run_after_runs_then_not_before(project_worker: Service) -> None:
    from reports.tasks import add

    due = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=5)
    result = add.using(run_after=due).enqueue(1, 1)
    time.sleep(3)  # well before its time: it must still wait
    result.refresh()
    assert str(result.status) == "READY"
    wait_for_status(result, "SUCCESSFUL", timeout_s=20)
    assert result.started_at is not None
    assert result.started_at >= due


def test_a_message_naming_an_unknown_task_ends_in_the_dead_set_and_imports_nothing(project_worker: Service) -> None:
    import redis

    from conveyor.django.backend import DjangoTaskJob
    from conveyor.keys import DEAD_JOBS_KEY
    from tests.conftest import TEST_REDIS_URL
    from tests.security.marker_module import MARKER

    client = redis.Redis.from_url(TEST_REDIS_URL)
    client.delete(MARKER)  # importing the marker module here (above) set it
    # A message naming a function in a module the worker could import (the repository is on its path)
    job = DjangoTaskJob.perform_later("tests.security.marker_module.x", [], {}, "default")
    project_worker.wait_for(f"DjangoTaskJob[{job.job_id}] raised unexpected", timeout_s=30)
    assert "is not a @task function this worker knows" in project_worker.output
    assert client.hexists(DEAD_JOBS_KEY, job.job_id)
    assert "SECURITY MARKER MODULE IMPORTED" not in project_worker.output
    assert not client.exists(MARKER)
