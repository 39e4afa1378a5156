"""Database connections in a worker: a session per job, none left open after it (PostgreSQL).

Sync jobs in a prefork worker (Celery's Django fixup closes the connections after each job), and
``async def perform`` jobs using Django's async ORM in a threads worker (conveyor.django.async_orm:
a thread context of its own per job, its connections closed after it).
"""

from __future__ import annotations

import sys
import time
import uuid
from typing import Any

import pytest
import redis

from tests.conftest import TEST_REDIS_URL, missing_service
from tests.conveyor.django.conftest import PROJECT, postgres_admin, postgres_database, project_env
from tests.integration.services import Service

pytestmark = [pytest.mark.redis, pytest.mark.processes]


def sessions_named(name: str) -> int:
    """How many PostgreSQL sessions a process with this application name holds right now."""
    admin = postgres_admin()
    with admin:
        [(count,)] = admin.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", [name])
    return int(count)


@pytest.mark.parametrize("kind", ["sync, prefork", "async, threads"])
def test_a_worker_opens_a_session_per_job_and_holds_none_after_them(project_app: Any, rows: None, kind: str) -> None:
    if postgres_database() is None:
        missing_service("no PostgreSQL answers (CONVEYOR_TEST_POSTGRES_DSN); the connection test needs one")
    from reports.jobs import AsyncDatabaseSessionJob, DatabaseSessionJob

    # Given a real worker of the project (prefork, 2 children; or threads, 4 async jobs at once in one
    # process), its sessions named so they can be counted
    job, pool = (DatabaseSessionJob, "prefork") if kind.startswith("sync") else (AsyncDatabaseSessionJob, "threads")
    name = f"conveyor-worker-{uuid.uuid4().hex[:8]}"
    argv = [sys.executable, "-m", "celery", "-A", "proj", "worker", "-P", pool, "-c", "2" if pool == "prefork" else "4"]
    argv += ["-Q", "default"]
    worker = Service([*argv, "-l", "INFO"], env={**project_env(), "DJANGO_APPLICATION_NAME": name}, cwd=PROJECT)
    client = redis.Redis.from_url(TEST_REDIS_URL, decode_responses=True)
    try:
        worker.wait_for("ready.", timeout_s=60)
        # When 20 jobs that each query the database run
        for number in range(20):
            job.perform_later(number)
        deadline = time.monotonic() + 60
        while client.llen("database-sessions") < 20:
            assert time.monotonic() < deadline, f"{client.llen('database-sessions')} of 20 jobs ran\n{worker.output}"
            time.sleep(0.1)  # the jobs write to Redis; read as the user's code would
        ran = [line.split() for line in client.lrange("database-sessions", 0, -1)]

        # Then they ran in the pool's children, never in the worker's main process (prefork), or in it (threads)
        children = {pid for _, pid, _ in ran}
        if pool == "prefork":
            assert str(worker.process.pid) not in children
            assert 1 <= len(children) <= 2
        else:
            assert children == {str(worker.process.pid)}
        # And each job had a session of its own: the one before it was closed, not handed on
        assert sorted(int(number) for number, _, _ in ran) == list(range(20))
        assert len({session for _, _, session in ran}) == 20
        # And once the jobs are done, no process of the worker holds a session
        deadline = time.monotonic() + 10
        while (held := sessions_named(name)) > 0:
            assert time.monotonic() < deadline, f"the worker still holds {held} database session(s)"
            time.sleep(0.1)
    finally:
        worker.stop()
        client.close()
