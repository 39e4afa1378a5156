"""The tests' Redis database, and the service's app on it; pytest-django makes the test database.

conveyor's pytest plugin adds ``enqueued_jobs`` and ``celery_worker`` (a real worker thread);
pytest-django adds ``client``, ``db``, ``transactional_db`` and
``django_capture_on_commit_callbacks``. Tests that need Redis skip when it does not answer,
except under ``CI=true``, where they fail.
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest

# The tests use a database of their own on the Redis `make test` selected, and may flush it.
_BASE_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
os.environ["REDIS_URL"] = urlunsplit(urlsplit(_BASE_URL)._replace(path="/15"))
os.environ["APP_ENV"] = "test"


@pytest.fixture(scope="session")
def celery_app() -> Any:
    """The service's app, on the tests' Redis database (used by conveyor's ``celery_worker``)."""
    from app import app

    app.set_current()
    return app
