"""The ``celery_app`` fixture of the folders that test the reference service (imported by their conftest).

Importing this imports the service (``app``): the pack's own tests (``tests/conveyor``) never do.
"""

from __future__ import annotations

from typing import Any

import pytest

import tests.conftest  # noqa: F401 - sets the environment (REDIS_URL, DATABASE_URL) before the service loads
from app import app as service_app
from app.models import create_all

create_all()  # the tests' SQLite file


@pytest.fixture(scope="session")
def celery_app() -> Any:
    """The reference service's app, configured for the test Redis database."""
    return service_app


@pytest.fixture(autouse=True)
def _current_app(celery_app: Any) -> None:
    # The pack's tests make their own app current; each test here starts on the service's.
    celery_app.set_current()
