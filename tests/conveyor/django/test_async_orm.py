"""``conveyor.django.async_orm``: Django's async ORM in ``async def perform``, in-process (SQLite or PostgreSQL).

The worker-process test (a session per job, none held after them) is in ``test_connections.py``.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest

from conveyor import Job

pytestmark = pytest.mark.redis


def test_each_job_coroutine_uses_a_thread_of_its_own_and_closes_its_connection(project_app: Any, rows: None) -> None:
    from asgiref.sync import sync_to_async
    from django.db import connection
    from reports.models import Report

    seen: list[tuple[threading.Thread, Any]] = []

    class CountReportsJob(Job):
        async def perform(self) -> int:
            count = await Report.objects.acount()

            # The Thread object, not get_ident(): an ended thread's ident is handed to the next one.
            def where() -> tuple[threading.Thread, Any]:
                return threading.current_thread(), connection.connection

            seen.append(await sync_to_async(where)())
            return count

    # When two async jobs run one after the other
    counts = [CountReportsJob.perform_now(), CountReportsJob.perform_now()]
    # Then both read the table, each from a thread of its own with a connection of its own
    assert counts[0] == counts[1] == Report.objects.count()
    (first_thread, first_connection), (second_thread, second_connection) = seen
    assert first_thread is not second_thread
    assert first_connection is not second_connection
    # and the first job's connection was closed when it ended (SQLite and psycopg both say "closed")
    with pytest.raises(Exception, match="closed"):
        first_connection.cursor().execute("SELECT 1")


def test_the_sync_orm_called_in_a_coroutine_is_djangos_synchronous_only_error(project_app: Any, rows: None) -> None:
    from django.core.exceptions import SynchronousOnlyOperation
    from reports.models import Report

    class SyncOrmInCoroutineJob(Job):
        async def perform(self) -> int:
            return Report.objects.count()

    with pytest.raises(SynchronousOnlyOperation):
        SyncOrmInCoroutineJob.perform_now()
