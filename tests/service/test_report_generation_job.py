"""The service's ReportGenerationJob, run in-process with perform_now."""

from __future__ import annotations

from app.models import Report, Session, create_all
from conveyor.testing import EnqueuedJobs
from tasks.report_generation_job import ReportGenerationJob


def test_enqueues_report(enqueued_jobs: EnqueuedJobs) -> None:  # design.md §6, as written
    ReportGenerationJob.perform_later(42)
    enqueued_jobs.assert_enqueued_with(job=ReportGenerationJob, args=(42,), queue="low_priority")
    enqueued_jobs.perform_all()  # runs them in-process, including jobs they enqueue


def test_perform_now_completes_the_report() -> None:
    create_all()
    with Session.begin() as session:
        report = Report(title="Quarterly")
        session.add(report)

    ReportGenerationJob.perform_now(report.id)  # runs in-process, returns perform()'s value

    with Session() as session:
        stored = session.get(Report, report.id)
        assert stored is not None
        assert stored.status == "completed"
        assert stored.completed_at is not None


def test_a_missing_report_is_discarded_not_raised() -> None:
    create_all()
    assert ReportGenerationJob.perform_now(987654) is None
