"""The tests' Redis database and {{ "PostgreSQL" if cookiecutter.database == "postgresql" else "SQLite" }} database, and the service's app pointed at them.

conveyor's pytest plugin adds the fixtures ``enqueued_jobs``, ``deliveries`` and
``celery_worker`` (a real worker thread). Tests that need Redis or the database
skip when it does not answer, except under ``CI=true``, where they fail.
"""

from __future__ import annotations

import os
{%- if cookiecutter.database == "sqlite" %}
import tempfile
{%- endif %}
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
# The tests use a database of their own on the Redis `make test` selected, and may flush it.
_BASE_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
os.environ["REDIS_URL"] = urlunsplit(urlsplit(_BASE_URL)._replace(path="/15"))
{%- if cookiecutter.database == "postgresql" %}
os.environ["DATABASE_URL"] = os.environ.get(
    "TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/{{ cookiecutter.__db_name }}_test"
)
{%- else %}
os.environ["DATABASE_URL"] = f"sqlite:///{tempfile.mkdtemp(prefix='{{ cookiecutter.__db_name }}-tests-')}/app.db"
{%- endif %}
os.environ["APP_ENV"] = "test"

from app import app as service_app  # noqa: E402 - after the environment is set
from app.models import create_all  # noqa: E402
{%- if cookiecutter.database == "postgresql" %}


def _create_test_database() -> str | None:
    """Create the test database if missing; the reason it cannot be reached, else None."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import OperationalError

    url = make_url(os.environ["DATABASE_URL"])
    server = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with server.connect() as connection:
            exists = connection.scalar(text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": url.database})
            if not exists:
                connection.execute(text(f'CREATE DATABASE "{url.database}"'))
    except OperationalError as exc:
        return f"PostgreSQL at {url.render_as_string(hide_password=True)} does not answer: {exc.orig}"
    finally:
        server.dispose()
    return None


DATABASE_PROBLEM = _create_test_database()
if DATABASE_PROBLEM is None:
    create_all()


@pytest.fixture(autouse=True)
def _database() -> None:
    if DATABASE_PROBLEM is not None:
        if IN_CI:
            pytest.fail(f"{DATABASE_PROBLEM} - failing because CI=true", pytrace=False)
        pytest.skip(DATABASE_PROBLEM)
{%- else %}

create_all()  # the tests' SQLite file
{%- endif %}


@pytest.fixture(scope="session")
def celery_app() -> Any:
    """The service's app, on the tests' Redis database (used by conveyor's ``celery_worker``)."""
    service_app.set_current()
    return service_app
