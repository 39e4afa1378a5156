"""The Django tests run on a real project (``tests/django_project``): a real database, the test Redis.

The ``default`` alias is a PostgreSQL database this suite creates where PostgreSQL answers
(``CONVEYOR_TEST_POSTGRES_DSN``, default the machine's ``postgres@127.0.0.1:5432/test``; CI has
one) and drops at the end, else a SQLite file; ``other`` is always SQLite, so multi-database
tests cross engines. Django is set up once in this process, from the project's settings module,
for the tests that call conveyor.django in-process; the worker is a real ``celery -A proj worker``
process started from the project's folder, as a user starts it. Both use the same databases, so
what one commits the other reads.
"""

from __future__ import annotations

import functools
import os
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.conftest import TEST_REDIS_URL, require_redis
from tests.integration.services import Service

PROJECT = Path(__file__).resolve().parents[2] / "django_project"
DB_DIR = tempfile.mkdtemp(prefix="conveyor-django-")

pytest.importorskip("django", reason="the Django tests need conveyor[django] (make test installs it)")


POSTGRES_DSN = os.environ.get("CONVEYOR_TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/test")


def postgres_admin() -> Any:
    """An autocommit connection to the PostgreSQL the tests use, or None where none answers."""
    import psycopg

    try:
        return psycopg.connect(POSTGRES_DSN, connect_timeout=3, autocommit=True)
    except psycopg.OperationalError:
        return None


@functools.cache
def postgres_database() -> str | None:
    """The PostgreSQL database of this run (created once), or None: then ``default`` is SQLite."""
    admin = postgres_admin()
    if admin is None:
        return None
    name = f"conveyor_django_{uuid.uuid4().hex[:12]}"
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    return name


def project_env() -> dict[str, str]:
    """What a process of the project gets: its settings module, the test databases and Redis."""
    database = postgres_database()
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "proj.settings",
        "DJANGO_DB_DIR": DB_DIR,
        **({"DJANGO_POSTGRES_DB": database} if database else {}),
        "REDIS_URL": TEST_REDIS_URL,
        "SECURITY_REDIS_URL": TEST_REDIS_URL,  # where tests/security/marker_module marks an import
        # The repository too: a hostile message could name any of its modules, and must import none.
        "PYTHONPATH": os.pathsep.join(
            [str(PROJECT), str(PROJECT.parents[1]), *filter(None, [os.environ.get("PYTHONPATH")])]
        ),
    }


@pytest.fixture(scope="session")
def django_setup() -> Iterator[Any]:
    """Django set up in this process from the project's settings; both databases migrated."""
    import django
    from django.conf import settings

    if not settings.configured:
        sys.path.insert(0, str(PROJECT))
        database = postgres_database()
        os.environ.update({"DJANGO_DB_DIR": DB_DIR, "DJANGO_SETTINGS_MODULE": "proj.settings"})
        if database:
            os.environ["DJANGO_POSTGRES_DB"] = database
        try:
            django.setup()
            from django.core.management import call_command

            for alias in ("default", "other"):
                call_command("migrate", database=alias, verbosity=0)
        finally:
            # Celery's Django fixup acts on any app created while this is set: only the project's own.
            os.environ.pop("DJANGO_SETTINGS_MODULE", None)
    from proj.celery import app

    yield app
    database = postgres_database()
    if database:
        from django.db import connections

        connections.close_all()
        admin = postgres_admin()
        with admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


@pytest.fixture
def project_app(django_setup: Any) -> Iterator[Any]:
    """The project's Celery app, current for the test; its Redis database flushed."""
    require_redis()
    client = redis.Redis.from_url(TEST_REDIS_URL)
    client.flushdb()
    django_setup.set_current()
    yield django_setup
    client.close()


@pytest.fixture
def rows(django_setup: Any) -> None:
    """Empty tables before the test (the worker and this process share them)."""
    from reports.models import Code, Report, Token

    for model in (Report, Token, Code):
        for alias in ("default", "other"):
            model.objects.using(alias).all().delete()


@pytest.fixture
def project_worker(project_app: Any, rows: None) -> Iterator[Service]:
    """A real ``celery -A proj worker`` (solo pool) started from the project's folder."""
    worker = Service(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "proj",
            "worker",
            "-P",
            "solo",
            "-Q",
            "default,django_tasks",
            "-l",
            "INFO",
        ],
        env=project_env(),
        cwd=PROJECT,
    )
    try:
        worker.wait_for("ready.", timeout_s=60)
        yield worker
    finally:
        worker.stop()
