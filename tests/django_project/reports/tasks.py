"""django.tasks functions, run by conveyor's backend."""

import time

from django.db import connection

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
