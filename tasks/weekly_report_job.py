"""Starts the weekly report every Monday (run from schedule.yaml)."""

from __future__ import annotations

import datetime as dt

from app.models import Report, Session
from conveyor import Job
from tasks.report_generation_job import ReportGenerationJob


class WeeklyReportJob(Job):
    """Create this week's report and enqueue its generation; returns the report id."""

    def perform(self) -> int:
        year, week, _ = dt.date.today().isocalendar()
        with Session.begin() as session:
            report = Report(title=f"Weekly report {year}-W{week:02d}")
            session.add(report)
            session.flush()
            report_id = report.id
        ReportGenerationJob.perform_later(report_id)
        return report_id
