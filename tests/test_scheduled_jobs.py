"""The service's scheduled jobs (schedule.yaml), run in-process with perform_now."""

from __future__ import annotations

import datetime as dt

import redis
from sqlalchemy import select

from app.models import Report, Session, create_all
from tasks.daily_cleanup_job import DailyCleanupJob
from tasks.weekly_report_job import WeeklyReportJob
from tests.integration.conftest import queued_messages


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


def test_weekly_report_creates_the_report_and_enqueues_its_generation(redis_client: redis.Redis) -> None:
    create_all()
    report_id = WeeklyReportJob.perform_now()

    with Session() as session:
        report = session.get(Report, report_id)
        assert report is not None
        assert report.title.startswith(f"Weekly report {dt.date.today().isocalendar()[0]}-W")
    [message] = queued_messages(redis_client, "low_priority")
    assert message["headers"]["task"] == "tasks.report_generation_job.ReportGenerationJob"
    assert message["decoded_body"][0] == [report_id]
