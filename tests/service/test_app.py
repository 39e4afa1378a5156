"""The service as a whole: its configuration loads, and a real worker runs a job sent through Redis."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select

from conveyor import Job
from conveyor.broker.worker_file import load_worker_config
from conveyor.schedule.file import load_schedule

# The service's root: tests/service/ here, tests/ in a rendered service (the template links this file).
ROOT = next(parent for parent in Path(__file__).resolve().parents if (parent / "schedule.yaml").is_file())


class PingJob(Job):
    """Returns what it was given, with the queue it ran on."""

    queue_as = "default"
    store_result = True  # the test waits on its return value (jobs store none unless asked)

    def perform(self, text: str) -> str:
        return f"{text} from {self.queue_name}"


def test_the_worker_consumes_the_queues_of_config_worker_yaml(celery_app: Any) -> None:
    configured = [queue.name for queue in celery_app.conf.task_queues]
    assert configured == load_worker_config(ROOT / "config" / "worker.yaml").names


def test_schedule_yaml_is_valid_and_every_entry_is_loaded() -> None:
    entries = load_schedule(ROOT / "schedule.yaml")
    assert set(entries) == set(yaml.safe_load((ROOT / "schedule.yaml").read_text()) or {})


def test_a_real_worker_runs_a_job_sent_through_the_broker(celery_worker: Any) -> None:
    job = PingJob.perform_later("ping")

    assert job.async_result.get(timeout=20) == "ping from default"


def test_a_user_saved_in_a_transaction_is_read_back() -> None:
    from app.models import Session, User

    email = f"{uuid.uuid4().hex}@example.com"
    with Session.begin() as session:
        session.add(User(email=email, name="Ada"))

    with Session() as session:
        stored = session.scalar(select(User).where(User.email == email))
    assert stored is not None
    assert (stored.name, stored.active) == ("Ada", True)
