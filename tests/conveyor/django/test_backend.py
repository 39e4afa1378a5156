"""``django.tasks`` on conveyor: @task functions enqueued from Django run on a real conveyor worker."""

from __future__ import annotations

import datetime as dt
import importlib
import json
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from conveyor import retry_on
from conveyor.broker.dead.dead_set import DeadSet
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
    # Celery's log, Flower and the dead set name the function by its path
    project_worker.wait_for(f"reports.tasks.fail[{result.id}] raised unexpected", timeout_s=30)
    client = redis.Redis.from_url(TEST_REDIS_URL)
    assert client.hexists(DEAD_JOBS_KEY, result.id)
    [dead] = [record for record in DeadSet(client).list(limit=10) if record["id"] == result.id]
    assert (dead["task"], dead["job_class"]) == ("reports.tasks.fail", "fail")  # Django's Task.name: the function's


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


def test_a_message_naming_an_unknown_task_ends_in_the_dead_set_and_imports_nothing(
    project_app: Any, project_worker: Service
) -> None:
    import redis

    from conveyor.broker.dead.dead_set import DeadSet
    from tests.conftest import TEST_REDIS_URL
    from tests.security.marker_module import MARKER

    client = redis.Redis.from_url(TEST_REDIS_URL)
    client.delete(MARKER)  # importing the marker module here (above) set it
    # A message naming a function in a module the worker could import (the repository is on its path)
    job_id = project_app.send_task("tests.security.marker_module.x", args=[], queue="django_tasks").id
    deadline = time.monotonic() + 30
    while not (reasons := {r["id"]: r["error"] for r in DeadSet(client).list(limit=100)}).get(job_id):
        assert time.monotonic() < deadline, project_worker.output
        time.sleep(0.05)  # the worker writes the dead set; read as an operator would
    assert reasons[job_id].startswith("unknown job or task 'tests.security.marker_module.x'")
    assert "SECURITY MARKER MODULE IMPORTED" not in project_worker.output
    assert not client.exists(MARKER)


def test_a_retried_task_is_ready_again_with_its_error_and_succeeds_on_its_third_attempt(
    project_worker: Service,
) -> None:
    from reports.tasks import flaky

    result = flaky.enqueue("retried", 2)
    wait_for_status(result, "SUCCESSFUL")
    assert result.return_value == 3  # TaskContext.attempt, as the function saw it
    assert result.attempts == 3
    assert len(result.worker_ids) == 3
    assert [error.exception_class_path for error in result.errors] == ["reports.tasks.Flaky"] * 2
    assert "failure 2 of 2" in result.errors[1].traceback


def test_retries_exhausted_fail_the_task_and_a_discarded_one_is_failed_but_not_dead(project_worker: Service) -> None:
    import redis
    from reports.tasks import flaky, look_up

    from conveyor.keys import DEAD_JOBS_KEY
    from tests.conftest import TEST_REDIS_URL

    exhausted = flaky.enqueue("exhausted", 5)
    discarded = look_up.enqueue("nobody")
    wait_for_status(exhausted, "FAILED")
    assert exhausted.attempts == 3  # retry_on(attempts=3)
    assert len(exhausted.errors) == 3
    wait_for_status(discarded, "FAILED")
    assert [error.exception_class_path for error in discarded.errors] == ["builtins.LookupError"]
    project_worker.wait_for(f"Discarded look_up (Job ID: {discarded.id})", timeout_s=30)
    client = redis.Redis.from_url(TEST_REDIS_URL)
    # FAILED is recorded as the function fails; conveyor moves the job to the dead set after that
    deadline = time.monotonic() + 30
    while not client.hexists(DEAD_JOBS_KEY, exhausted.id):
        assert time.monotonic() < deadline, project_worker.output
        time.sleep(0.05)  # the worker writes the dead set; read as an operator would
    assert not client.hexists(DEAD_JOBS_KEY, discarded.id)


def test_a_unique_task_enqueued_twice_returns_the_first_result_and_runs_once(project_app: Any) -> None:
    import redis
    from reports.tasks import import_file

    from conveyor.keys import DJANGO_RESULT_PREFIX
    from tests.conftest import TEST_REDIS_URL

    first = import_file.enqueue("/data/a.csv")
    second = import_file.enqueue("/data/a.csv")
    other = import_file.enqueue("/data/b.csv")
    assert second.id == first.id
    assert other.id != first.id
    client = redis.Redis.from_url(TEST_REDIS_URL)
    assert len(client.keys(DJANGO_RESULT_PREFIX + "*")) == 2  # no result left for the refused one
    assert sum(client.llen(key) for key in client.keys("default*")) == 2  # the queue's lists, one per priority


def test_a_wrong_argument_count_fails_at_enqueue_naming_the_function(project_app: Any) -> None:
    import redis
    from reports.tasks import add

    from tests.conftest import TEST_REDIS_URL

    with pytest.raises(TypeError, match=r"add: missing a required argument: 'b' \(perform\(a, b\)\)"):
        add.enqueue(1)
    assert redis.Redis.from_url(TEST_REDIS_URL).dbsize() == 0  # nothing sent, no result written


def test_a_wrong_conveyor_declaration_fails_when_the_task_is_declared(django_setup: Any) -> None:
    from conveyor.django.tasks_api import ROOT
    from conveyor.errors import DeclarationError

    task = importlib.import_module(ROOT).task
    with pytest.raises(DeclarationError, match=r"takes conveyor's declarations, such as \[retry_on"):
        task(conveyor=[42])(undeclared)
    with pytest.raises(DeclarationError, match=r"retry_on\(attempts=...\): expected an int >= 1"):
        task(conveyor=[retry_on(ValueError, attempts=0)])(undeclared)


def undeclared() -> None:
    """A module-level function (Django requires one) the declaration test tries to make a task."""


def test_a_schedule_yaml_entry_naming_a_task_runs_it_on_the_worker(project_worker: Service, tmp_path: Path) -> None:
    from reports.models import Report

    from tests.conveyor.django.conftest import PROJECT, project_env

    # Given a schedule file naming a @task function by its path, with its arguments
    schedule = tmp_path / "schedule.yaml"
    schedule.write_text("record:\n  every: 1 second\n  job: reports.tasks.record\n  args: [from-schedule]\n")
    argv = [sys.executable, "-m", "celery", "-A", "proj", "beat", "-l", "INFO"]
    beat = Service(argv, env={**project_env(), "CONVEYOR_SCHEDULE_FILE": str(schedule)}, cwd=PROJECT)
    try:
        # When beat runs, then the worker runs the function, on its queue, every second
        deadline = time.monotonic() + 30
        while Report.objects.filter(title="from-schedule").count() < 2:
            assert time.monotonic() < deadline, f"{beat.output}\n{project_worker.output}"
            time.sleep(0.1)  # the worker writes the rows; read as the user's code would
    finally:
        beat.stop()
    assert "reports.tasks.record" in project_worker.output
