"""The pack's own tests run on an app of the pack alone: the reference service is never imported here.

``tests/test_architecture``'s check that ``app`` stays out of ``sys.modules`` runs in a
fresh interpreter over this folder, so an import of the service sneaking in fails.
"""

from __future__ import annotations

from typing import Any

import pytest
from celery import Celery

import conveyor
from tests.conftest import TEST_REDIS_URL

_APP = conveyor.configure(
    Celery("conveyor_tests"),
    default=False,
    broker_url=TEST_REDIS_URL,
    result_backend=TEST_REDIS_URL,
    conveyor_store_results=True,  # the tests wait on job.async_result; the default is tested in test_results.py
)


@pytest.fixture(scope="session")
def celery_app() -> Any:
    """An app configured by ``conveyor.configure`` alone."""
    return _APP


@pytest.fixture(autouse=True)
def _current_app(celery_app: Any) -> None:
    # The service's tests make its app current; each test here starts on the pack's.
    celery_app.set_current()
