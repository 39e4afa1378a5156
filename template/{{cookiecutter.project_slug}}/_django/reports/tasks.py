"""A ``django.tasks`` function, run on conveyor's workers (``TASKS`` in ``app/settings.py``).

``count_reports.enqueue("completed")`` returns a ``TaskResult`` at once; ``result.refresh()``
follows it READY → RUNNING → SUCCESSFUL. ``conveyor=[...]`` adds conveyor's declarations.
"""

from __future__ import annotations

from conveyor import retry_on

try:
    from django.tasks import task
except ImportError:  # Django 5.2: the backport
    from django_tasks import task

from reports.models import Report


@task(queue_name="default", conveyor=[retry_on(ConnectionError, wait=5, attempts=3)])
def count_reports(status: str) -> int:
    return int(Report.objects.filter(status=status).count())
