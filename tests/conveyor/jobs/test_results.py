"""Results are opt-in (ActiveJob has none): ``store_result`` / ``conveyor_store_results``, on a real worker."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
import redis
from celery import Celery, states

import conveyor
from conveyor import Job, ResultNotStoredError
from conveyor.broker.results import RedisBackend
from conveyor.broker.worker_file import WorkerConfig, apply
from conveyor.errors import DeclarationError
from conveyor.testing import worker_thread
from tests.conftest import TEST_REDIS_URL, require_redis

RAN = threading.Event()


class QuietJob(Job):
    def perform(self, n: int) -> int:
        RAN.set()
        return n * 2


class AnsweringJob(Job):
    store_result = True

    def perform(self, n: int) -> int:
        return n * 3


class FailingJob(Job):
    def perform(self) -> None:
        raise LookupError("no such thing")


@pytest.fixture
def shipped_app() -> Iterator[Celery]:
    """An app with conveyor's defaults: jobs store no result unless they say so."""
    require_redis()
    redis.Redis.from_url(TEST_REDIS_URL).flushdb()
    app = conveyor.configure(Celery("results"), default=False, broker_url=TEST_REDIS_URL, result_backend=TEST_REDIS_URL)
    apply(app, WorkerConfig(queues=["default"]))
    previous = conveyor.compat.celery.current_app()
    app.set_current()
    yield app
    previous.set_current()


def test_by_default_a_job_writes_no_result_and_async_result_names_the_fix(shipped_app: Celery) -> None:
    client = redis.Redis.from_url(TEST_REDIS_URL)
    RAN.clear()
    with worker_thread(shipped_app, queues=["default"]):
        quiet = QuietJob.perform_later(21)
        answering = AnsweringJob.perform_later(5)
        assert answering.async_result.get(timeout=20) == 15  # opted in: stored and published to get()
        assert RAN.wait(20)
    with pytest.raises(ResultNotStoredError, match="declare store_result = True on QuietJob"):
        quiet.async_result  # noqa: B018 - the property raises
    assert client.exists(f"celery-task-meta-{quiet.job_id}") == 0
    assert client.exists(f"celery-task-meta-{answering.job_id}") == 1


def test_a_failure_is_stored_even_without_results(shipped_app: Celery) -> None:
    with worker_thread(shipped_app, queues=["default"]):
        job = FailingJob.perform_later()
        result = shipped_app.AsyncResult(job.job_id)
        with pytest.raises(LookupError, match="no such thing"):
            result.get(timeout=20)
    assert result.state == states.FAILURE


def test_the_app_setting_stores_every_job_result(shipped_app: Celery) -> None:
    shipped_app.conf.conveyor_store_results = True
    conveyor.settings.forget(shipped_app)
    with worker_thread(shipped_app, queues=["default"]):
        assert QuietJob.perform_later(4).async_result.get(timeout=20) == 8


def test_store_result_must_be_a_bool() -> None:
    with pytest.raises(DeclarationError, match=r"WrongJob.store_result must be True or False, got 'yes'"):

        class WrongJob(Job):
            store_result = "yes"  # type: ignore[assignment]

            def perform(self) -> None:
                pass


def test_a_stored_success_is_never_overwritten_and_is_written_in_one_round_trip(shipped_app: Celery) -> None:
    backend = shipped_app.backend
    assert isinstance(backend, RedisBackend)
    client = redis.Redis.from_url(TEST_REDIS_URL)
    client.config_resetstat()
    backend.store_result("job-1", 42, states.SUCCESS)
    calls = {name: int(stats["calls"]) for name, stats in client.info("commandstats").items()}
    assert calls.get("cmdstat_evalsha", 0) + calls.get("cmdstat_eval", 0) == 1, calls
    assert calls.get("cmdstat_get", 0) == 1, "the read before the write happens inside the script"
    backend.store_result("job-1", "late duplicate", states.FAILURE)  # a job run twice after a lost worker
    assert backend.get_task_meta("job-1")["status"] == states.SUCCESS
    assert backend.get_task_meta("job-1")["result"] == 42
    backend.store_result("job-2", None, states.RETRY)
    backend.store_result("job-2", 7, states.SUCCESS)
    assert backend.get_task_meta("job-2")["result"] == 7
    assert 0 < client.ttl("celery-task-meta-job-2") <= 24 * 3600  # Celery's result_expires, one day
