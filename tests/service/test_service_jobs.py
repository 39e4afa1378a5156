"""The service's jobs, run with conveyor's test helpers."""

from __future__ import annotations

import logging
import uuid
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from app.models import ImportedRecord, Session, User
from conveyor.testing import EnqueuedJobs, interrupt_job_during_step
from tasks.data_import_job import DataImportJob, import_files
from tasks.data_processing_job import DataProcessingJob
from tasks.notification_job import NotificationJob
from tasks.user_notification_job import UserNotificationJob, enqueue_in_batches


def make_users(count: int) -> list[int]:
    with Session.begin() as session:
        users = [User(email=f"u-{uuid.uuid4().hex}@example.com", name=f"User {n}") for n in range(count)]
        session.add_all(users)
        session.flush()
        return [user.id for user in users]


def test_data_import_upserts_by_natural_key_so_a_rerun_adds_nothing(tmp_path: Path) -> None:
    key = uuid.uuid4().hex[:8]
    csv_file = tmp_path / "records.csv"
    csv_file.write_text("external_id,name,amount\n" + "".join(f"{key}-{n},Item {n},{n}\n" for n in range(1200)))

    assert DataImportJob.perform_now(str(csv_file)) == 1200  # in batches of 500
    csv_file.write_text(f"external_id,name,amount\n{key}-7,Renamed,70\n")
    assert DataImportJob.perform_now(str(csv_file)) == 1

    with Session() as session:
        count = session.scalar(select(func.count()).where(ImportedRecord.external_id.like(f"{key}-%")))
        renamed = session.scalar(select(ImportedRecord).where(ImportedRecord.external_id == f"{key}-7"))
    assert count == 1200
    assert renamed is not None
    assert (renamed.name, renamed.amount) == ("Renamed", 70)


def test_data_import_discards_a_missing_file(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="conveyor")
    assert DataImportJob.perform_now("/nonexistent/records.csv") is None
    assert "Discarded DataImportJob" in caplog.text
    assert "FileNotFoundError" in caplog.text


def test_user_notifications_continue_past_a_failing_user(
    deliveries: list[EmailMessage], caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = make_users(3)
    with Session.begin() as session:
        session.get(User, ids[1]).email = "not an address\n"  # type: ignore[union-attr]

    notified = UserNotificationJob.perform_now(ids, "Maintenance tonight")

    assert notified == 2
    assert len(deliveries) == 2
    assert all("Maintenance tonight" in message.get_content() for message in deliveries)
    assert f"Failed to notify user {ids[1]}" in caplog.text


def test_enqueue_in_batches_sends_one_job_per_thousand_users_as_a_batch_that_logs_its_summary(
    enqueued_jobs: EnqueuedJobs, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="tasks")
    batch = enqueue_in_batches(range(1, 2501), of=1000)
    enqueued_jobs.assert_enqueued_jobs(3, only=UserNotificationJob, queue="notifications")
    assert [len(entry.args[0]) for entry in enqueued_jobs.jobs] == [1000, 1000, 500]
    assert batch.status.pending == 3
    enqueued_jobs.perform_all()  # the three jobs, then the batch's finish callback
    assert batch.status.finished
    assert "Notify 2500 users: 3 of 3 job(s) done, 0 failed" in caplog.text


def test_importing_files_as_a_batch_counts_a_missing_file_as_failed(
    tmp_path: Path, enqueued_jobs: EnqueuedJobs, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="tasks")
    csv_file = tmp_path / "records.csv"
    csv_file.write_text(f"external_id,name,amount\n{uuid.uuid4().hex}-1,Item,1\n")
    batch = import_files([str(csv_file), str(tmp_path / "missing.csv")])
    enqueued_jobs.perform_all()
    status = batch.status
    assert (status.succeeded, status.discarded, status.finished) == (1, 1, True)
    assert "Import 2 file(s): 1 of 2 job(s) done, 1 failed" in caplog.text


def test_notification_job_is_urgent_and_mails_the_user(
    enqueued_jobs: EnqueuedJobs, deliveries: list[EmailMessage]
) -> None:
    [user_id] = make_users(1)
    NotificationJob.perform_later(user_id, "Your export is ready")
    enqueued_jobs.assert_enqueued_with(job=NotificationJob, queue="high_priority", priority=0)

    enqueued_jobs.perform_all()

    [message] = deliveries
    assert "Your export is ready" in message.get_content()


def test_data_processing_job_runs_its_callbacks(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    assert DataProcessingJob.perform_now(21) == 42
    lines = [r.getMessage() for r in caplog.records if r.name == "tasks.data_processing_job"]
    assert [line.split("] ", 2)[-1].split(" ")[0] for line in lines] == ["Starting", "Job", "Completed"]


def test_report_generation_aggregates_mails_once_and_is_idempotent(deliveries: list[EmailMessage]) -> None:
    import json

    from app.models import Report
    from tasks.report_generation_job import ReportGenerationJob

    with Session.begin() as session:
        report = Report(title="Totals", recipient="boss@example.com")
        session.add(report)
    with Session() as session:
        expected = session.execute(
            select(func.count(ImportedRecord.id), func.coalesce(func.sum(ImportedRecord.amount), 0))
        ).one()

    ReportGenerationJob.perform_now(report.id)
    with Session() as session:
        first = session.get(Report, report.id)
        assert first is not None
        first_state = (first.status, first.data, first.completed_at)
    ReportGenerationJob.perform_now(report.id)  # a second run: same state, no second mail

    with Session() as session:
        again = session.get(Report, report.id)
        assert again is not None
        assert (again.status, again.data, again.completed_at) == first_state
    assert json.loads(first_state[1]) == {"records": expected[0], "total_amount": expected[1]}  # type: ignore[arg-type]
    [message] = deliveries
    assert message["To"] == "boss@example.com"
    assert message["Subject"] == "Your report 'Totals' is ready"


def test_a_10000_row_import_interrupted_mid_way_resumes_at_its_cursor_and_imports_no_row_twice(
    tmp_path: Path, enqueued_jobs: EnqueuedJobs, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = uuid.uuid4().hex[:8]
    csv_file = tmp_path / "big.csv"
    csv_file.write_text("external_id,name,amount\n" + "".join(f"{key}-{n},Item {n},{n}\n" for n in range(10_000)))
    upserted: list[str] = []
    upsert = DataImportJob._upsert

    def recording_upsert(rows: list[dict[str, Any]]) -> int:
        upserted.extend(row["external_id"] for row in rows)
        return upsert(rows)

    monkeypatch.setattr(DataImportJob, "_upsert", staticmethod(recording_upsert))

    # A deploy stops the worker after the 10th batch of 500 was committed.
    with interrupt_job_during_step(DataImportJob, "import_rows", cursor=5000):
        assert DataImportJob.perform_now(str(csv_file)) is None
    resumed = enqueued_jobs.assert_enqueued_with(job=DataImportJob, args=(str(csv_file),))
    assert resumed.continuation == {"completed": [], "current": ["import_rows", 5000]}
    assert len(upserted) == 5000

    enqueued_jobs.perform_all()
    assert upserted[5000] == f"{key}-5000", "the resumed execution started at the cursor"
    assert len(upserted) == 10_000
    assert len(set(upserted)) == 10_000, "no row imported twice"
    with Session() as session:
        count = session.scalar(select(func.count()).where(ImportedRecord.external_id.like(f"{key}-%")))
    assert count == 10_000
