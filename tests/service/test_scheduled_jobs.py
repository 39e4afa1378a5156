"""The service's scheduled jobs (schedule.yaml), run in-process with perform_now."""

from __future__ import annotations

import datetime as dt
import os
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from app.models import Report, Session, create_all
from config.settings import settings
from conveyor.testing import EnqueuedJobs
from tasks.daily_cleanup_job import DailyCleanupJob
from tasks.report_generation_job import ReportGenerationJob
from tasks.weekly_report_job import WeeklyReportJob


def test_daily_cleanup_deletes_only_completed_reports_older_than_the_cutoff(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    create_all()
    monkeypatch.setattr(settings, "tmp_dir", str(tmp_path))
    stale, fresh = tmp_path / "export-1.csv", tmp_path / "nested" / "export-2.csv"
    fresh.parent.mkdir()
    stale.write_text("old")
    fresh.write_text("new")
    two_days_ago = time.time() - 48 * 3600
    os.utime(stale, (two_days_ago, two_days_ago))
    old = dt.datetime.now(dt.UTC) - dt.timedelta(days=120)
    with Session.begin() as session:
        session.add_all(
            [
                Report(title="old done", status="completed", created_at=old),
                Report(title="old pending", status="pending", created_at=old),
                Report(title="new done", status="completed"),
            ]
        )

    deleted = DailyCleanupJob.perform_now(90)

    assert deleted["reports"] >= 1
    assert deleted["temp_files"] == 1
    assert not stale.exists()
    assert fresh.read_text() == "new"

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
