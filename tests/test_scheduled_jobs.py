"""The service's scheduled jobs (schedule.yaml), run in-process with perform_now."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from app.models import Report, Session, create_all
from conveyor.testing import EnqueuedJobs
from tasks.daily_cleanup_job import DailyCleanupJob
from tasks.report_generation_job import ReportGenerationJob
from tasks.weekly_report_job import WeeklyReportJob


def test_daily_cleanup_deletes_only_completed_reports_older_than_the_cutoff() -> None:
    create_all()
    old = dt.datetime.now(dt.UTC) - dt.timedelta(days=120)
    with Session.begin() as session:
        session.add_all([
            Report(title="old done", status="completed", created_at=old),
            Report(title="old pending", status="pending", created_at=old),
            Report(title="new done", status="completed"),
        ])  # fmt: skip

    assert DailyCleanupJob.perform_now(90) >= 1

    with Session() as session:
        titles = set(session.scalars(select(Report.title)))
    assert "old done" not in titles
    assert {"old pending", "new done"} <= titles


def test_weekly_report_creates_the_report_and_enqueues_its_generation(enqueued_jobs: EnqueuedJobs) -> None:
    create_all()
    report_id = WeeklyReportJob.perform_now()

    with Session() as session:
        report = session.get(Report, report_id)
        assert report is not None
        assert report.title.startswith(f"Weekly report {dt.date.today().isocalendar()[0]}-W")
    enqueued_jobs.assert_enqueued_with(job=ReportGenerationJob, args=(report_id,), queue="low_priority")
    enqueued_jobs.assert_enqueued_jobs(1)

    enqueued_jobs.perform_all()

    with Session() as session:
        assert session.get(Report, report_id).status == "completed"  # type: ignore[union-attr]
