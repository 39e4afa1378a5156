"""The reports' jobs and task: held until commit, loaded again from the database, run by a real worker."""

from __future__ import annotations

import time
from typing import Any

import pytest
from django.db import transaction

from conveyor.testing import EnqueuedJobs
from reports.jobs import DailyCleanupJob, ReportGenerationJob
from reports.models import Report
from reports.tasks import count_reports


@pytest.mark.django_db
def test_a_report_asked_for_is_sent_once_its_row_is_committed(
    client: Any, enqueued_jobs: EnqueuedJobs, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = client.post("/reports/", {"title": "Quarterly"})
        assert enqueued_jobs.count() == 0  # the view's transaction has not committed yet
    assert response.status_code == 201
    assert len(callbacks) == 1
    [job] = enqueued_jobs.jobs
    assert job.job_id == response.json()["job_id"]
    enqueued_jobs.perform_all()  # through the wire form: the worker loads the row again
    assert Report.objects.get(pk=response.json()["id"]).status == "completed"


@pytest.mark.django_db
def test_a_rolled_back_report_sends_nothing(enqueued_jobs: EnqueuedJobs) -> None:
    def ask_then_fail() -> None:
        with transaction.atomic():
            ReportGenerationJob.perform_later(Report.objects.create(title="never"))
            raise RuntimeError("rolled back")

    with pytest.raises(RuntimeError, match="rolled back"):
        ask_then_fail()
    assert enqueued_jobs.count() == 0
    assert not Report.objects.exists()


@pytest.mark.django_db
def test_a_report_deleted_before_its_job_runs_is_discarded(enqueued_jobs: EnqueuedJobs) -> None:
    report = Report.objects.create(title="gone")
    ReportGenerationJob.perform_later(report)
    report.delete()
    enqueued_jobs.perform_all()  # RecordNotFound when the row is loaded: discarded, not raised
    assert not Report.objects.exists()


@pytest.mark.django_db
def test_the_daily_cleanup_deletes_old_completed_reports_only() -> None:
    Report.objects.create(title="old", status="completed")
    Report.objects.filter(title="old").update(created_at="2000-01-01T00:00:00Z")
    Report.objects.create(title="recent", status="completed")
    assert DailyCleanupJob.perform_now(90) == 1
    assert list(Report.objects.values_list("title", flat=True)) == ["recent"]


@pytest.mark.django_db(transaction=True)
def test_a_task_runs_on_a_real_worker_and_its_result_is_successful(celery_worker: Any) -> None:
    Report.objects.create(title="done", status="completed")
    result = count_reports.enqueue("completed")
    deadline = time.monotonic() + 30
    while str(result.status) != "SUCCESSFUL":
        assert time.monotonic() < deadline, f"the task is {result.status}"
        time.sleep(0.05)  # polled as Django's API is used: refresh() reads the result
        result.refresh()
    assert result.return_value == 1
