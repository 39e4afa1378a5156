"""django.tasks functions, run by conveyor's backend."""

import os
import time

import redis
from django.db import connection

from conveyor import discard_on, retry_on, unique
from conveyor.django.tasks_api import TaskContext

try:
    from django.tasks import task
except ImportError:  # Django 5.2: the backport
    from django_tasks import task  # type: ignore[no-redef]

from reports.models import Report


@task()
def add(a: int, b: int) -> int:
    return a + b


@task(takes_context=True)
def slow_add(context: TaskContext, a: int, b: int) -> dict[str, int]:
    time.sleep(float(Report.objects.filter(title="slow").count()))  # the test makes it slow by a row
    return {"sum": a + b, "attempt": context.attempt}


@task()
def fail(reason: str) -> None:
    raise ValueError(f"failed on purpose: {reason}")


@task(queue_name="django_tasks")
def record(label: str) -> None:
    with connection.cursor() as cursor:  # the order tasks ran in, read by the test
        cursor.execute("INSERT INTO reports_report (title, body) VALUES (%s, %s)", [label, "ran"])


class Flaky(Exception):
    """Raised by ``flaky`` while it has failures left."""


@task(conveyor=[retry_on(Flaky, wait=0, attempts=3)], takes_context=True)
def flaky(context: TaskContext, key: str, failures: int) -> int:
    """Fails ``failures`` times (counted in Redis by ``key``), then returns the attempt it succeeded on."""
    client = redis.Redis.from_url(os.environ["REDIS_URL"])
    try:
        if client.incr(f"flaky:{key}") <= failures:
            raise Flaky(f"failure {context.attempt} of {failures}")
    finally:
        client.close()
    return context.attempt


@task(conveyor=[discard_on(LookupError)])
def look_up(name: str) -> str:
    raise LookupError(f"no {name}")


@task(conveyor=[unique(within=60)])
def import_file(path: str) -> str:
    return path
