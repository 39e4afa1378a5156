"""The worker's consumer (``conveyor.broker.fetch.consumer``): a message Celery cannot run goes to the dead set
with the reason, and the reason for an unknown task is found without importing anything.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import pytest
import redis
from celery import Celery

from conveyor.broker.dead.dead_set import DeadSet
from conveyor.broker.fetch.consumer import unknown_task_reason
from tests.jobs import RECORDER, EchoJob


def test_an_unknown_task_is_explained_without_importing_its_module(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "conveyor_marker_mod.py").write_text("import sys\nsys.conveyor_marker_imported = True\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    app = Celery("reasons", include=["conveyor_marker_mod"])

    assert unknown_task_reason(app, "conveyor_marker_mod.NopeJob") == (
        "unknown job or task 'conveyor_marker_mod.NopeJob': conveyor_marker_mod is in the app's include list but "
        "does not define it (if the job is new, the worker started before it existed: restart the worker)"
    )
    assert unknown_task_reason(app, "json.NopeJob") == (
        "unknown job or task 'json.NopeJob': no task of that name is registered on this worker "
        "(its module is not in the app's include list)"
    )
    assert "conveyor_marker_mod" not in sys.modules
    assert not hasattr(sys, "conveyor_marker_imported")


def test_a_job_module_written_after_the_worker_started_is_named_without_being_imported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib

    from conveyor.broker.fetch import consumer

    package = tmp_path / "conveyor_marker_pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "old_job.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.import_module("conveyor_marker_pkg")
    app = Celery("reasons", include=["conveyor_marker_pkg.old_job"])
    monkeypatch.setattr(consumer, "_STARTED", time.time())
    (package / "new_job.py").write_text("import sys\nsys.conveyor_marker_imported = True\n")
    future = time.time() + 5
    import os

    os.utime(package / "new_job.py", (future, future))  # written after the worker started

    assert unknown_task_reason(app, "conveyor_marker_pkg.new_job.NewJob") == (
        f"unknown job or task 'conveyor_marker_pkg.new_job.NewJob': {package / 'new_job.py'} was written after this "
        "worker started (the worker started before this job existed): restart the worker"
    )
    assert "conveyor_marker_pkg.new_job" not in sys.modules
    assert not hasattr(sys, "conveyor_marker_imported")
    # A package the app does not include is not searched at all.
    assert "not in the app's include list" in unknown_task_reason(app, "json.new_job.NewJob")


def _run_behind(job_ids: list[str]) -> None:
    """Wait until an EchoJob sent after the bad messages has run: the worker took them all before it."""
    last = EchoJob.perform_later("after the bad ones")
    RECORDER.wait_for(lambda records: any(r.get("job_id") == last.job_id for r in records))
    job_ids.append(last.job_id)


def test_a_message_for_an_unknown_task_goes_to_the_dead_set_and_the_worker_goes_on(
    celery_app: Any, worker: Any, redis_client: redis.Redis, recorder: Any
) -> None:
    # Given a message for a task no worker registers, sent to a running worker
    celery_app.send_task("tests.nowhere.MissingJob", args=[1], task_id="missing-1", queue="default")

    # When the worker has taken it (and a job sent after it)
    ran: list[str] = []
    _run_behind(ran)

    # Then it is in the dead set with the reason and the message kept, and the later job ran
    record = DeadSet(redis_client).get("missing-1")
    assert record is not None
    assert record["reason"] == (
        "unknown job or task 'tests.nowhere.MissingJob': no task of that name is registered on this worker "
        "(its module is not in the app's include list)"
    )
    assert (record["task"], record["queue"], record["attempts"]) == ("tests.nowhere.MissingJob", "default", 1)
    assert record["message"]["headers"]["id"] == "missing-1"
    assert [r["job_id"] for r in recorder.of("echo")] == ran


def test_an_undecodable_message_goes_to_the_dead_set_with_the_reason(
    celery_app: Any, worker: Any, redis_client: redis.Redis, recorder: Any
) -> None:
    # Given a task message whose JSON body is not JSON
    with celery_app.producer_or_acquire() as producer:
        producer.publish(
            b"{not json",
            routing_key="default",
            content_type="application/json",
            content_encoding="utf-8",
            headers={"task": "tests.jobs.EchoJob", "id": "undecodable-1"},
        )

    # When the worker has taken it (and a job sent after it)
    ran: list[str] = []
    _run_behind(ran)

    # Then it is in the dead set, and the worker went on
    record = DeadSet(redis_client).get("undecodable-1")
    assert record is not None
    assert record["reason"].startswith("undecodable message: ")
    assert record["task"] == "tests.jobs.EchoJob"
    assert [r["job_id"] for r in recorder.of("echo")] == ran
