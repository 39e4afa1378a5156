"""The pytest plugin's celery_worker: a real worker thread with the app's real queue configuration."""

from __future__ import annotations

from typing import Any

import pytest
import redis

from tests.jobs import EchoJob, Recorder

pytestmark = pytest.mark.redis


def test_the_plugins_celery_worker_runs_jobs_from_the_configured_queues(
    redis_client: redis.Redis, recorder: Recorder, celery_worker: Any
) -> None:
    high = EchoJob.set(queue="high_priority").perform_later("high")
    low = EchoJob.set(queue="low_priority").perform_later("low")

    records = recorder.wait_count("echo", 2)

    assert {(r["job_id"], r["queue"]) for r in records} == {
        (high.job_id, "high_priority"),
        (low.job_id, "low_priority"),
    }
