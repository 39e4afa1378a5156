"""The pytest plugin's celery_worker: a real worker thread with the app's real queue configuration.

The module's ``celery_app`` is what the plugin's docstring asks a project's conftest for: an app
of the pack given a worker configuration (``apply``, as a service's ``config/worker.yaml``
does), so the worker consumes exactly the queues configured there, without ``-Q``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import redis
from celery import Celery

import conveyor
from conveyor.broker.fetch.queue_order import WeightedCycle
from conveyor.broker.worker_file import WorkerConfig, apply
from tests.conftest import TEST_REDIS_URL
from tests.jobs import EchoJob, Recorder

pytestmark = pytest.mark.redis

# The shape of the reference service's worker.yaml: weighted, the queues the test sends to among others.
QUEUES: list[list[str | int]] = [["high_priority", 2], ["default", 1], ["low_priority", 1]]


@pytest.fixture(scope="module")
def celery_app() -> Iterator[Celery]:
    """An app of the pack with a worker configuration; the fetch's weights are put back after."""
    weights = WeightedCycle.weights  # class state of the worker process
    app = conveyor.configure(
        Celery("plugin_worker", set_as_current=False),
        default=False,
        broker_url=TEST_REDIS_URL,
        result_backend=TEST_REDIS_URL,
    )
    apply(app, WorkerConfig.model_validate({"queues": QUEUES}))
    yield app
    WeightedCycle.configure(weights)


def test_the_plugins_celery_worker_runs_jobs_from_the_configured_queues(
    celery_app: Celery, redis_client: redis.Redis, recorder: Recorder, celery_worker: Any
) -> None:
    assert [queue.name for queue in celery_app.conf.task_queues] == ["high_priority", "default", "low_priority"]
    high = EchoJob.set(queue="high_priority").perform_later("high")
    low = EchoJob.set(queue="low_priority").perform_later("low")

    records = recorder.wait_count("echo", 2)

    assert {(r["job_id"], r["queue"]) for r in records} == {
        (high.job_id, "high_priority"),
        (low.job_id, "low_priority"),
    }
