"""The reference service end to end: `celery -A app worker` as a real process, a job enqueued from another process."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
import redis
from celery import Celery

from tests.conftest import TEST_REDIS_URL, require_redis

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
# A database of its own, so the in-process test worker cannot take these jobs.
SERVICE_REDIS_URL = urlunsplit(urlsplit(TEST_REDIS_URL)._replace(path="/14"))


@pytest.fixture
def service_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    require_redis()
    redis.Redis.from_url(SERVICE_REDIS_URL).flushdb()
    env = {**os.environ, "REDIS_URL": SERVICE_REDIS_URL, "DATABASE_URL": f"sqlite:///{tmp_path}/service.db"}
    yield env
    redis.Redis.from_url(SERVICE_REDIS_URL).flushdb()


@pytest.fixture
def worker_process(service_env: dict[str, str], tmp_path: Path) -> Iterator[WorkerProcess]:
    """`celery -A app worker` with no flags at all: queues and concurrency come from config/worker.yaml."""
    log_path = tmp_path / "worker.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "app", "worker"],
            cwd=ROOT, env=service_env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        yield WorkerProcess(process, log_path)
        process.terminate()
        assert process.wait(timeout=30) == 0  # a warm shutdown


class WorkerProcess:
    def __init__(self, process: subprocess.Popen[bytes], log_path: Path) -> None:
        self.process, self.log_path = process, log_path

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def result_of(job_id: str) -> Any:
    """The job's result, read from the service's result backend."""
    return Celery("observer", backend=SERVICE_REDIS_URL, set_as_current=False).AsyncResult(job_id)


def run_in_other_process(env: dict[str, str], code: str) -> str:
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    return result.stdout.strip()


def test_a_job_enqueued_from_another_process_is_performed_by_the_worker_process(
    service_env: dict[str, str], worker_process: WorkerProcess
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

    result = result_of(job_id)
    assert result.get(timeout=30) is None
    assert result.state == "SUCCESS"
    status = run_in_other_process(
        service_env, (f"from app.models import Report, Session\nprint(Session().get(Report, {report_id}).status)\n")
    )
    assert status == "completed"
    banner = worker_process.log
    assert "concurrency: 5 (prefork)" in banner
    for queue in ("high_priority", "default", "notifications", "low_priority", "mailers", "maintenance"):
        assert re.search(rf"\.> {queue} +exchange={queue}\(direct\) key={queue}\n", banner), banner


def test_a_missing_report_is_discarded_not_failed(service_env: dict[str, str], worker_process: WorkerProcess) -> None:
    job_id = run_in_other_process(
        service_env,
        (
            "from tasks.report_generation_job import ReportGenerationJob\n"
            "print(ReportGenerationJob.perform_later(999).job_id)\n"
        ),
    )
    result = result_of(job_id)
    assert result.get(timeout=30) is None
    assert result.state == "SUCCESS"
