"""The seed's report job, on the Django ORM: its argument is the model instance itself."""

import os

import redis
import redis.asyncio
from django.db import connection

from conveyor import Job, discard_on
from conveyor.errors import RecordNotFound
from reports.models import Code, Report, Token


@discard_on(RecordNotFound)
class ReportGenerationJob(Job):
    queue_as = "default"

    def perform(self, report: Report) -> str:
        report.body = f"generated: {report.title}"
        report.save(update_fields=["body"])
        return report.body


class LabelJob(Job):
    """Writes where it found its arguments, so the test reads what the worker loaded."""

    queue_as = "default"

    def perform(self, token: Token, code: Code) -> None:
        code.used_by = f"{token.label}@{token._state.db}"
        code.save(update_fields=["used_by"])


class DatabaseSessionJob(Job):
    """Records the process that ran it and the database session that served it (PostgreSQL).

    The test reads the list from Redis: one distinct session per job shows the connection was
    closed around each job (Celery's Django fixup closes every connection after a job unless
    CELERY_DB_REUSE_MAX is set), never handed to the next.
    """

    queue_as = "default"

    def perform(self, number: int) -> None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            [(session,)] = cursor.fetchall()
        client = redis.Redis.from_url(os.environ["REDIS_URL"])
        client.rpush("database-sessions", f"{number} {os.getpid()} {session}")
        client.close()


class AsyncDatabaseSessionJob(Job):
    """``DatabaseSessionJob`` with ``async def perform`` and Django's async ORM (conveyor.django.async_orm)."""

    queue_as = "default"

    async def perform(self, number: int) -> None:
        from asgiref.sync import sync_to_async

        await Report.objects.acount()  # the async ORM opens this job's connection

        def session() -> int:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                [(pid,)] = cursor.fetchall()
            return int(pid)

        backend = await sync_to_async(session)()  # thread-sensitive: the same thread, the same connection
        client = redis.asyncio.Redis.from_url(os.environ["REDIS_URL"])
        await client.rpush("database-sessions", f"{number} {os.getpid()} {backend}")
        await client.aclose()
