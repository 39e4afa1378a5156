"""A job of the pack's tests that needs its row committed: it completes a ``Report``."""

from __future__ import annotations

from conveyor import Job, RecordNotFound
from tests.conveyor.sqlalchemy.models import Report, Session

__all__ = ["CompleteReportJob"]


class CompleteReportJob(Job):
    """Marks report ``report_id`` completed; a report it cannot find raises ``RecordNotFound``."""

    queue_as = "low_priority"

    def perform(self, report_id: int) -> None:
        with Session.begin() as session:
            report = session.get(Report, report_id)
            if report is None:
                raise RecordNotFound(f"Report {report_id} does not exist")
            report.status = "completed"
