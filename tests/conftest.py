"""Shared fixtures: the test Redis and a real worker thread, for whichever app a folder uses.

Each folder's conftest provides ``celery_app``: ``tests/conveyor`` an app of the pack
alone (the reference service is never imported there), ``tests/service``,
``tests/integration`` the reference service's app (``tests/service_app.py``).

Tests that need Redis skip when none answers, except under CI=true, where they
fail: a CI run that skipped them would prove nothing.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from typing import Any, NoReturn
from urllib.parse import urlsplit, urlunsplit

import pytest
import redis

from conveyor.devserver import answers
from conveyor.settings import masked_url
from conveyor.testing import worker_thread
from tests.processes import interrupt_on_sigterm

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
# The tests get a database of their own on whatever Redis `make test` selected,
# and flush it freely.
_BASE_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
TEST_DB = int(os.environ.get("CONVEYOR_TEST_REDIS_DB", "15"))
TEST_REDIS_URL = urlunsplit(urlsplit(_BASE_URL)._replace(path=f"/{TEST_DB}"))
os.environ["REDIS_URL"] = TEST_REDIS_URL
os.environ.setdefault("DATABASE_URL", f"sqlite:///{tempfile.mkdtemp(prefix='conveyor-tests-')}/app.db")
os.environ["APP_ENV"] = "test"
# The suite waits on jobs through job.async_result, so the service's jobs store results here;
# what the service ships (no results, Flower from events) is tested in integration/test_service.py.
os.environ["STORE_RESULTS"] = "true"

REDIS_AVAILABLE = answers(TEST_REDIS_URL)


def pytest_configure(config: pytest.Config) -> None:
    # Stopped by SIGTERM (a timeout, CI), the run unwinds as on Ctrl-C: fixtures end the processes they started.
    interrupt_on_sigterm()


def missing_service(message: str) -> NoReturn:
    """A service a test needs is missing: fail under CI=true, skip locally."""
    if IN_CI:
        pytest.fail(f"{message} - failing because CI=true", pytrace=False)
    pytest.skip(message)  # locally only: under CI=true the line above fails instead


def require_redis() -> None:
    if not REDIS_AVAILABLE:
        where = masked_url(TEST_REDIS_URL)
        missing_service(f"no Redis answers at {where} (run the tests with `make test`, which starts one)")


@pytest.fixture
def redis_client(celery_app: Any) -> Iterator[redis.Redis]:
    """A client on the test database, flushed before the test."""
    require_redis()
    client = redis.Redis.from_url(TEST_REDIS_URL)
    client.flushdb()
    yield client
    client.close()


@pytest.fixture(scope="module")
def worker(celery_app: Any) -> Iterator[Any]:
    """A real Celery worker (solo pool, in a thread) consuming the queues the tests use.

    Module-scoped: it stops after the module, so it cannot take messages that other
    modules' tests inspect in Redis.
    """
    require_redis()
    redis.Redis.from_url(TEST_REDIS_URL).flushdb()
    with worker_thread(celery_app, queues=["default", "low_priority", "high_priority", "retries"]) as running:
        yield running


@pytest.fixture
def recorder() -> Iterator[Any]:
    from tests.jobs import RECORDER

    RECORDER.clear()
    yield RECORDER
    RECORDER.clear()


# Fixtures that reach Redis or a worker: a test using one is marked `redis` (and a real worker
# thread needs nothing more). Markers per tier: `redis`, `processes`, `slow`; `integration` is
# "redis or processes", so `make test-fast` (-m "not integration") needs no Redis and starts nothing.
_REDIS_FIXTURES = {"redis_client", "worker", "celery_worker", "conveyor_worker"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if _REDIS_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.redis)
        if item.get_closest_marker("redis") or item.get_closest_marker("processes"):
            item.add_marker(pytest.mark.integration)
