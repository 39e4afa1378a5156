"""Queue order and message priority, with a real worker fetching from a real Redis.

Each test builds an app of the pack from the worker configuration it needs (``apply``), as a
service's ``config/worker.yaml`` would give it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from itertools import groupby
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
import redis
from celery import Celery

import conveyor
from conveyor import perform_all_later
from conveyor.broker.fetch.queue_order import WeightedCycle
from conveyor.broker.worker_file import WorkerConfig, apply
from conveyor.testing import worker_thread
from tests.conftest import TEST_REDIS_URL, require_redis
from tests.jobs import QueueProbeJob, Recorder
from tests.redis_reading import queued_messages

pytestmark = pytest.mark.redis
# A database of its own: these workers must not see the other tests' messages.
QUEUES_REDIS_URL = urlunsplit(urlsplit(TEST_REDIS_URL)._replace(path="/13"))


@pytest.fixture
def make_app(celery_app: Celery, recorder: Recorder) -> Iterator[Any]:
    """Builds an app from a worker config, makes it current, and makes the pack's app current again after."""
    require_redis()
    client = redis.Redis.from_url(QUEUES_REDIS_URL)
    client.flushdb()
    weights = WeightedCycle.weights  # class state of the worker process; put back after

    def make(**worker_yaml: Any) -> Celery:
        app = conveyor.configure(
            Celery("queues", set_as_current=False),
            default=False,
            broker_url=QUEUES_REDIS_URL,
            result_backend=QUEUES_REDIS_URL,
        )
        apply(app, WorkerConfig.model_validate(worker_yaml))
        app.set_current()
        return app

    yield make
    celery_app.set_current()
    WeightedCycle.configure(weights)
    client.flushdb()
    client.close()


@contextmanager
def worker(app: Celery) -> Iterator[None]:
    """One real worker (solo pool, prefetch 1, acks late) consuming the app's configured queues."""
    with worker_thread(app):
        yield


def test_strict_order_runs_all_of_high_then_default_then_low(make_app: Any, recorder: Recorder) -> None:
    app = make_app(queues=["high", "default", "low"])
    for queue in ("low", "default", "high"):  # enqueued lowest first, so FIFO would be wrong
        perform_all_later([QueueProbeJob(f"{queue}-{n}").set(queue=queue) for n in range(50)])

    with worker(app):
        records = recorder.wait_count("probe", 150)

    assert [r["queue"] for r in records] == ["high"] * 50 + ["default"] * 50 + ["low"] * 50


def test_weighted_fetch_serves_queues_in_proportion_and_starves_none(make_app: Any, recorder: Recorder) -> None:
    app = make_app(queues=[["a", 3], ["b", 1]])
    WeightedCycle.configure({"a": 3, "b": 1}, seed=20261128)
    # More than 2,000 fetches can take from either queue, so both stay non-empty throughout.
    perform_all_later([QueueProbeJob(f"a-{n}").set(queue="a") for n in range(1800)])
    perform_all_later([QueueProbeJob(f"b-{n}").set(queue="b") for n in range(900)])

    with worker(app):
        records = recorder.wait_count("probe", 2000, timeout_s=90)[:2000]

    queues = [r["queue"] for r in records]
    share_a = queues.count("a") / len(queues)
    longest_wait_of_b = max(len(list(run)) for queue, run in groupby(queues) if queue == "a")
    assert 0.71 <= share_a <= 0.79, share_a
    # With a 3:1 draw, a run of 50 a's in a row has probability 0.75**50 ≈ 6e-7 per position.
    assert longest_wait_of_b <= 50, longest_wait_of_b


def test_within_a_queue_priority_0_runs_before_priority_9_enqueued_earlier(make_app: Any, recorder: Recorder) -> None:
    app = make_app(queues=["work"])
    perform_all_later([QueueProbeJob(f"late-{n}").set(queue="work", priority=9) for n in range(30)])
    perform_all_later([QueueProbeJob(f"urgent-{n}").set(queue="work", priority=0) for n in range(30)])
    perform_all_later([QueueProbeJob(f"normal-{n}").set(queue="work") for n in range(30)])

    with worker(app):
        records = recorder.wait_count("probe", 90)

    assert [r["priority"] for r in records] == [0] * 30 + [5] * 30 + [9] * 30


def test_on_redis_message_priority_is_checked_before_queue_order(make_app: Any, recorder: Recorder) -> None:
    app = make_app(queues=["high", "low"])
    QueueProbeJob.set(queue="high").perform_later("high, default priority 5")
    QueueProbeJob.set(queue="low", priority=0).perform_later("low, priority 0")

    with worker(app):
        records = recorder.wait_count("probe", 2)

    assert [r["label"] for r in records] == ["low, priority 0", "high, default priority 5"]


def test_a_job_for_a_queue_no_worker_consumes_is_sent_with_one_warning(
    make_app: Any, caplog: pytest.LogCaptureFixture
) -> None:
    make_app(queues=["default", "low"])
    caplog.set_level(logging.WARNING, logger="conveyor")

    QueueProbeJob.set(queue="lwo").perform_later("typo")
    QueueProbeJob.set(queue="lwo").perform_later("typo again")

    warnings = [r.getMessage() for r in caplog.records if "not in the worker configuration" in r.getMessage()]
    assert warnings == [  # a typo's fix first; a new queue's second
        "Queue 'lwo' is not in the worker configuration (default, low): did you mean 'low'? Fix the job's queue_as "
        "(or set(queue=...)); if 'lwo' is a new queue, add it to config/worker.yaml or start a worker with -Q lwo, "
        "or `celery worker` without -Q will not run its jobs"
    ]
    QueueProbeJob.set(queue="reports").perform_later("a new queue")
    [new_queue] = [r.getMessage() for r in caplog.records if "'reports'" in r.getMessage()]
    assert new_queue == (
        "Queue 'reports' is not in the worker configuration (default, low), so `celery worker` without -Q will not "
        "run its jobs: add it to config/worker.yaml or start a worker with -Q reports"
    )
    client = redis.Redis.from_url(QUEUES_REDIS_URL)
    assert len(queued_messages(client, "lwo")) == 2  # not lost: a worker with -Q lwo would run them
