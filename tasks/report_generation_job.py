"""Marks a report completed; the design's example job (design.md §2)."""

from __future__ import annotations

import datetime as dt

from app.models import RecordNotFound, Report, Session
from conveyor import Job, discard_on, retry_on


@retry_on(ConnectionError, wait=5, attempts=3)
@discard_on(RecordNotFound)
class ReportGenerationJob(Job):
    """Complete report ``report_id``; a report deleted meanwhile is discarded, not retried."""

    queue_as = "low_priority"
    priority = 5

    def perform(self, report_id: int) -> None:
        with Session.begin() as session:
            report = session.get(Report, report_id)
            if report is None:
                raise RecordNotFound(f"Report {report_id} does not exist")
            report.status = "completed"
            report.completed_at = dt.datetime.now(dt.UTC)
        self.logger.info("Report %s completed", report_id)
