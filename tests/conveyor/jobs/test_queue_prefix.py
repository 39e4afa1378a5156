"""``conveyor_queue_name_prefix`` (ActiveJob's ``queue_name_prefix``): names as written, prefixed in Redis."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from types import SimpleNamespace

import pytest
import redis
from celery import Celery

import conveyor
from conveyor import Job, retry_on
from conveyor.broker.worker_file import WorkerConfig, apply
from conveyor.schedule.beat import FROM_FILE, enqueue_entry
from conveyor.settings import prefixed_queue
from conveyor.testing import EnqueuedJobs, worker_thread
from tests.conftest import TEST_REDIS_URL, require_redis

RAN: list[str] = []
BOTH_RAN = threading.Event()


class LowJob(Job):
    queue_as = "low"

    def perform(self, name: str) -> None:
        RAN.append(name)
        if len(RAN) == 2:
            BOTH_RAN.set()


class FlakyOnce(Exception):
    pass


@retry_on(FlakyOnce, wait=0, attempts=2, queue="retries")
class RetriedJob(Job):
    def perform(self) -> None:
        if self.executions == 1:
            raise FlakyOnce


@pytest.fixture
def prefixed_app() -> Iterator[Celery]:
    app = conveyor.configure(
        Celery("prefixed"), default=False, broker_url=TEST_REDIS_URL, conveyor_queue_name_prefix="production"
    )
    apply(app, WorkerConfig(queues=["high", "low", "default", "retries"]))
    previous = conveyor.compat.celery.current_app()
    app.set_current()
    yield app
    previous.set_current()


def test_the_rule_adds_the_prefix_once() -> None:
    assert prefixed_queue("low", "production") == "production_low"
    assert prefixed_queue("production_low", "production") == "production_low", "mapping twice changes nothing"
    assert prefixed_queue("low", "staging", ".") == "staging.low"
    assert prefixed_queue("low", None) == "low"


def test_declared_set_default_and_retry_queues_are_prefixed(prefixed_app: Celery, enqueued_jobs: EnqueuedJobs) -> None:
    assert LowJob.perform_later("a").queue_name == "production_low"
    assert LowJob.set(queue="high").perform_later("b").queue_name == "production_high"
    assert RetriedJob.perform_later().queue_name == "production_default"
    assert prefixed_app.conf.task_default_queue == "production_default"
    assert {queue.name for queue in prefixed_app.conf.task_queues} == {
        "production_high",
        "production_low",
        "production_default",
        "production_retries",
    }
    enqueued_jobs.clear()
    RetriedJob.perform_now()
    enqueued_jobs.assert_enqueued_with(job=RetriedJob, queue="production_retries")


def test_a_worker_of_the_prefixed_app_runs_jobs_from_the_prefixed_lists(prefixed_app: Celery) -> None:
    require_redis()
    client = redis.Redis.from_url(TEST_REDIS_URL)
    client.flushdb()
    RAN.clear()
    BOTH_RAN.clear()
    LowJob.perform_later("through-redis")
    assert client.llen("production_low\x06\x165") == 1, "the message is in the prefixed list (priority 5)"
    assert not client.exists("low\x06\x165")
    # A schedule.yaml entry names the queue as written, too.
    entry = SimpleNamespace(
        task="tests.conveyor.jobs.test_queue_prefix.LowJob",
        args=["from-beat"],
        kwargs={},
        options={"queue": "low", FROM_FILE: {}},
    )
    with worker_thread(prefixed_app):
        enqueue_entry(prefixed_app, entry)
        assert BOTH_RAN.wait(10), f"ran: {RAN}"
    assert sorted(RAN) == ["from-beat", "through-redis"]
    client.close()
