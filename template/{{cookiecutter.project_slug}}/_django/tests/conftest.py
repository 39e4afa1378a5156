"""The service's app for conveyor's fixtures; pytest-django makes the test database (tests/settings.py).

conveyor's pytest plugin adds ``enqueued_jobs`` and ``celery_worker`` (a real worker thread);
pytest-django adds ``client``, ``db``, ``transactional_db`` and
``django_capture_on_commit_callbacks``. Tests that need Redis skip when it does not answer,
except under ``CI=true``, where they fail.
"""

from __future__ import annotations

from typing import Any

import pytest

# The environment (Redis database 15, APP_ENV=test) is set in tests/settings.py, which pytest-django
# imports before this file.


@pytest.fixture(scope="session")
def celery_app() -> Any:
    """The service's app, on the tests' Redis database (used by conveyor's ``celery_worker``)."""
    from app import app

    app.set_current()
    return app
