"""Builds a report from the imported records and mails it.

Idempotent: the report row is completed in one transaction only if it is still pending,
and the mail goes out after that commit, by the run that completed it. Running the job
twice leaves the same state and sends one mail. (A crash between the commit and the mail
loses that mail: the mail is at most once, the report exactly once.)
"""

from __future__ import annotations

import datetime as dt
import json

from sqlalchemy import func, select

from app.mailers import ReportMailer
from app.models import ImportedRecord, RecordNotFound, Report, Session
from conveyor import Job, discard_on, limits_concurrency, retry_on


# One generation of a given report at a time, on every worker: a second one waits in Redis
# (not in a worker) until the first is done, then finds the report completed.
@limits_concurrency(to=1, key=lambda report_id, **_: report_id, duration=900)
@retry_on(ConnectionError, wait=5, attempts=3)
@discard_on(RecordNotFound)
class ReportGenerationJob(Job):
    """Complete report ``report_id``; a report deleted meanwhile is discarded, not retried."""

    queue_as = "low_priority"
    priority = 5

    def perform(self, report_id: int) -> None:
        with Session.begin() as session:
            report = session.get(Report, report_id, with_for_update=True)
            if report is None:
                raise RecordNotFound(f"Report {report_id} does not exist")
            if report.status == "completed":
                self.logger.info("Report %s is already completed; nothing to do", report_id)
                return
            count, total = session.execute(
                select(func.count(ImportedRecord.id), func.coalesce(func.sum(ImportedRecord.amount), 0))
            ).one()
            report.data = json.dumps({"records": count, "total_amount": total})
            report.status = "completed"
            report.completed_at = dt.datetime.now(dt.UTC)
            recipient = report.recipient
        self.logger.info("Report %s completed", report_id)
        if recipient:
            ReportMailer.report_ready(report, recipient).deliver_now()
