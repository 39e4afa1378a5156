"""The reports' jobs, on the Django ORM: a model instance is an argument like any other.

``ReportGenerationJob.perform_later(report)`` sends a reference to the row (app, model, primary
key, database); the worker loads it again, and a row deleted meanwhile is ``RecordNotFound``,
discarded here. Enqueued inside ``transaction.atomic()``, the job is sent when the transaction
commits, and not at all if it rolls back.
"""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.utils import timezone

from conveyor import Job, discard_on, limits_concurrency, retry_on
from conveyor.errors import RecordNotFound
from reports.models import Report


# One generation of a given report at a time, on every worker: a second one waits in Redis, then
# finds the report completed.
@limits_concurrency(to=1, key=lambda report, **_: report.pk, duration=900)
@retry_on(ConnectionError, wait=5, attempts=3)
@discard_on(RecordNotFound)
class ReportGenerationJob(Job):
    """Complete ``report`` (idempotent: a completed report is left as it is)."""

    queue_as = "low_priority"
    priority = 5

    def perform(self, report: Report) -> str:
        with transaction.atomic():
            locked = Report.objects.select_for_update().get(pk=report.pk)
            if locked.status == "completed":
                self.logger.info("Report %s is already completed; nothing to do", locked.pk)
                return str(locked.status)
            locked.data = {"title": locked.title, "completed_by": self.job_id}
            locked.status = "completed"
            locked.completed_at = timezone.now()
            locked.save(update_fields=["data", "status", "completed_at"])
        self.logger.info("Report %s completed", locked.pk)
        return str(locked.status)


class DailyCleanupJob(Job):
    """Delete completed reports older than ``keep_days`` days (``schedule.yaml`` runs it nightly)."""

    queue_as = "maintenance"

    def perform(self, keep_days: int = 90) -> int:
        cutoff = timezone.now() - dt.timedelta(days=keep_days)
        deleted, _ = Report.objects.filter(status="completed", created_at__lt=cutoff).delete()
        self.logger.info("Daily cleanup deleted %d old reports", deleted)
        return int(deleted)
