"""conveyor's pytest plugin (registered through the ``pytest11`` entry point).

Fixtures:

``enqueued_jobs``
    Jobs enqueued during the test are recorded, not sent (``conveyor.testing.EnqueuedJobs``)::

        def test_enqueues_report(enqueued_jobs):
            ReportGenerationJob.perform_later(42)
            enqueued_jobs.assert_enqueued_with(job=ReportGenerationJob, args=(42,), queue="low_priority")
            enqueued_jobs.perform_all()

``deliveries``
    Mail sent during the test is kept in this list of ``EmailMessage`` instead of sent.

``conveyor_worker`` (also as ``celery_worker``)
    A real Celery worker in a thread (``celery.contrib.testing.worker.start_worker``,
    solo pool) consuming the ``celery_app`` fixture's configured queues, against its
    real broker. If the broker does not answer, the test is skipped, or fails when
    ``CI=true`` (a CI run that skipped it would prove nothing). pytest-celery 1.x
    replaces ``celery_worker`` with a Docker-backed fixture; run pytest with
    ``-p no:celery`` where there is no Docker, and this
    plugin's ``celery_worker`` takes its place. Define ``celery_app`` in your
    ``conftest.py`` to return your app (the default is Celery's current app).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from email.message import EmailMessage
from typing import Any

import pytest

from conveyor.mail.delivery import TestBackend, use_backend
from conveyor.settings import masked_url
from conveyor.testing.assertions import EnqueuedJobs, enqueued_jobs_recorded
from conveyor.testing.worker_thread import worker_thread

__all__ = ["celery_app", "celery_worker", "conveyor_worker", "deliveries", "enqueued_jobs", "require_broker"]


@pytest.fixture
def enqueued_jobs() -> Iterator[EnqueuedJobs]:
    """Record jobs enqueued during the test instead of sending them."""
    with enqueued_jobs_recorded() as recorded:
        yield recorded


@pytest.fixture
def deliveries() -> Iterator[list[EmailMessage]]:
    """Messages delivered during the test (kept, not sent)."""
    with use_backend(TestBackend()) as backend:
        yield backend.deliveries


@pytest.fixture
def celery_app() -> Any:
    """The app under test; override it in conftest.py to return yours."""
    from celery import current_app

    return current_app._get_current_object()


def require_broker(app: Any) -> None:
    """Skip the test (fail it under ``CI=true``) when the app's broker does not answer."""
    try:
        with app.connection_for_write() as connection:
            connection.ensure_connection(max_retries=1, interval_start=0, timeout=2)
    except Exception as exc:  # any failure to connect means the same thing here
        message = f"the broker at {masked_url(app.conf.broker_url)} does not answer ({exc}); `make test` starts a Redis"
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail(f"{message} - failing because CI=true", pytrace=False)
        pytest.skip(message)


@pytest.fixture
def conveyor_worker(celery_app: Any) -> Iterator[Any]:
    """A real worker thread consuming the app's configured queues against its real broker."""
    require_broker(celery_app)
    with worker_thread(celery_app) as worker:
        yield worker


@pytest.fixture
def celery_worker(conveyor_worker: Any) -> Any:
    """``conveyor_worker`` under pytest-celery's name (its own needs Docker)."""
    return conveyor_worker
