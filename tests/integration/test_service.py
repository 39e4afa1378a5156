"""The reference service end to end: `celery -A app worker` as a real process, a job enqueued from another process."""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
import redis
from celery.events.state import State

from tests.conftest import TEST_REDIS_URL, require_redis
from tests.processes import track

pytestmark = [pytest.mark.redis, pytest.mark.processes]
ROOT = Path(__file__).resolve().parents[2]
# A database of its own, so the in-process test worker cannot take these jobs.
SERVICE_REDIS_URL = urlunsplit(urlsplit(TEST_REDIS_URL)._replace(path="/14"))


@pytest.fixture
def service_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    require_redis()
    redis.Redis.from_url(SERVICE_REDIS_URL).flushdb()
    env = {**os.environ, "REDIS_URL": SERVICE_REDIS_URL, "DATABASE_URL": f"sqlite:///{tmp_path}/service.db"}
    env.pop("STORE_RESULTS", None)  # as the service ships: jobs store no result (tests/conftest.py turns it on)
    yield env
    redis.Redis.from_url(SERVICE_REDIS_URL).flushdb()


@pytest.fixture
def worker_process(service_env: dict[str, str], tmp_path: Path) -> Iterator[WorkerProcess]:
    """`celery -A app worker` with no flags at all: queues and concurrency come from config/worker.yaml."""
    log_path = tmp_path / "worker.log"
    with log_path.open("wb") as log:
        process = track(
            subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "app", "worker"],
                cwd=ROOT,
                env=service_env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )
        yield WorkerProcess(process, log_path)
        process.terminate()
        assert process.wait(timeout=30) == 0  # a warm shutdown


class WorkerProcess:
    def __init__(self, process: subprocess.Popen[bytes], log_path: Path) -> None:
        self.process, self.log_path = process, log_path

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


class TaskEvents:
    """The service's task events, read as Flower reads them, into Celery's event ``State`` (Flower's too).

    Subscribed to the event exchange on Redis before anything is enqueued; records how many events
    each message carried (``conveyor.broker.event_batches`` sends them in batches).
    """

    def __init__(self) -> None:
        self.state = State()
        self.batch_sizes: list[int] = []
        self._pubsub = redis.Redis.from_url(SERVICE_REDIS_URL).pubsub()
        self._pubsub.psubscribe("*celeryev*")
        assert self._pubsub.get_message(timeout=10) is not None  # the subscription is confirmed
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while not self._stop.is_set():
            message = self._pubsub.get_message(timeout=0.2)
            if not message or message["type"] != "pmessage":
                continue
            envelope = json.loads(message["data"])
            body = json.loads(base64.b64decode(envelope["body"]))
            events = body if isinstance(body, list) else [body]
            self.batch_sizes.append(len(events))
            for event in events:
                event["local_received"] = time.time()  # as Celery's EventReceiver adds
                self.state.event(event)

    def wait_succeeded(self, job_id: str, timeout: float = 30) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            task = self.state.tasks.get(job_id)
            if task is not None and task.state == "SUCCESS":
                return task
            time.sleep(0.05)  # the reader thread fills the state; nothing to wait on but it
        raise AssertionError(f"no task-succeeded event for {job_id} in {timeout} s: {self.state.tasks.get(job_id)}")

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._pubsub.close()


@pytest.fixture
def task_events(service_env: dict[str, str]) -> Iterator[TaskEvents]:
    events = TaskEvents()
    yield events
    events.close()


def run_in_other_process(env: dict[str, str], code: str) -> str:
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    return result.stdout.strip()


def test_a_job_enqueued_from_another_process_is_performed_by_the_worker_process(
    service_env: dict[str, str], worker_process: WorkerProcess, task_events: TaskEvents
) -> None:
    report_id = run_in_other_process(
        service_env,
        (
            "from app.models import Report, Session, create_all\n"
            "create_all()\n"
            "with Session.begin() as s:\n"
            "    r = Report(title='Monthly'); s.add(r); s.flush(); print(r.id)\n"
        ),
    )
    job_id = run_in_other_process(
        service_env,
        (
            "from tasks.report_generation_job import ReportGenerationJob\n"
            f"print(ReportGenerationJob.perform_later({report_id}).job_id)\n"
        ),
    )

    task = task_events.wait_succeeded(job_id)
    assert task.name == "tasks.report_generation_job.ReportGenerationJob"
    assert task.result == "None"
    status = run_in_other_process(
        service_env, (f"from app.models import Report, Session\nprint(Session().get(Report, {report_id}).status)\n")
    )
    assert status == "completed"
    banner = worker_process.log
    assert "concurrency: 5 (prefork)" in banner
    for queue in ("high_priority", "default", "notifications", "low_priority", "mailers", "maintenance"):
        assert re.search(rf"\.> {queue} +exchange={queue}\(direct\) key={queue}\n", banner), banner


def test_as_shipped_jobs_store_no_result_and_every_job_reaches_flower_in_batched_events(
    service_env: dict[str, str], worker_process: WorkerProcess, task_events: TaskEvents
) -> None:
    # The service's defaults: no result write per job (a sixth of a worker's throughput), task
    # events in batches (a third of it). Flower's state still has every job: name, arguments,
    # state, runtime and return value. The reports do not exist: each job is discarded, not failed.
    output = run_in_other_process(
        service_env,
        (
            "from conveyor import ResultNotStoredError\n"
            "from tasks.report_generation_job import ReportGenerationJob\n"
            "jobs = [ReportGenerationJob.perform_later(1000 + i) for i in range(30)]\n"
            "print(' '.join(job.job_id for job in jobs))\n"
            "try:\n"
            "    jobs[0].async_result\n"
            "except ResultNotStoredError as exc:\n"
            "    print(exc)\n"
        ),
    )
    ids_line, error = output.splitlines()
    job_ids = ids_line.split()
    assert "declare store_result = True on ReportGenerationJob" in error
    assert "conveyor_store_results=True" in error
    for number, job_id in enumerate(job_ids):
        task = task_events.wait_succeeded(job_id)
        assert (task.name, task.args, task.result) == (
            "tasks.report_generation_job.ReportGenerationJob",
            f"({1000 + number},)",
            "None",
        )
        assert None not in (task.received, task.started, task.runtime)
    assert max(task_events.batch_sizes) > 1, task_events.batch_sizes  # several events per message
    assert sum(task_events.batch_sizes) >= 3 * len(job_ids)  # received, started, succeeded: none lost
    assert redis.Redis.from_url(SERVICE_REDIS_URL).keys("celery-task-meta-*") == []
