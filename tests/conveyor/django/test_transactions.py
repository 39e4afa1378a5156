"""Enqueue on commit: jobs enqueued inside ``transaction.atomic()`` wait for the commit, or are dropped."""

from __future__ import annotations

import logging
import shlex
import time
import unittest
from typing import Any, ClassVar

import pytest
from celery import Celery

import conveyor
from conveyor import Job
from conveyor.testing import enqueued_jobs_recorded
from tests.conveyor.cli.running import invoke
from tests.integration.services import Service

pytestmark = [pytest.mark.redis]


class AtOnceJob(Job):
    """Opts out: sent even inside a transaction."""

    enqueue_after_transaction_commit = False

    def perform(self, n: int) -> None:
        pass


def enqueue_then_roll_back(job_class: Any, model: Any, title: str) -> Any:
    """A job enqueued for a new row, in a transaction that rolls back; the job."""
    from django.db import transaction

    job = None
    try:
        with transaction.atomic():
            job = job_class.perform_later(model.objects.create(title=title))
            raise RuntimeError("the transaction rolls back")
    except RuntimeError:
        pass
    assert job is not None
    return job


def recorded_ids(enqueued: Any) -> list[str]:
    return [job.job_id for job in enqueued.jobs]


def test_a_job_is_held_until_commit_and_dropped_on_rollback(django_setup: Any, rows: None) -> None:
    from django.db import transaction
    from reports.jobs import ReportGenerationJob
    from reports.models import Report

    with enqueued_jobs_recorded() as enqueued:
        with transaction.atomic():
            report = Report.objects.create(title="Q3")
            held = ReportGenerationJob.perform_later(report)
            assert held.job_id  # the id exists at once
            assert held.successfully_enqueued is None
            assert recorded_ids(enqueued) == []  # nothing sent before the commit
        assert recorded_ids(enqueued) == [held.job_id]
        assert held.successfully_enqueued is True

        dropped = enqueue_then_roll_back(ReportGenerationJob, Report, "rolled back")
        assert dropped.successfully_enqueued is None
        assert recorded_ids(enqueued) == [held.job_id]


def test_a_savepoint_that_rolls_back_drops_its_jobs_though_the_outer_transaction_commits(
    django_setup: Any, rows: None
) -> None:
    from django.db import transaction
    from reports.jobs import ReportGenerationJob
    from reports.models import Report

    with enqueued_jobs_recorded() as enqueued:
        with transaction.atomic():
            kept = ReportGenerationJob.perform_later(Report.objects.create(title="kept"))
            try:
                with transaction.atomic():  # a savepoint
                    ReportGenerationJob.perform_later(Report.objects.create(title="savepoint"))
                    raise ValueError("the savepoint rolls back")
            except ValueError:
                pass
        assert recorded_ids(enqueued) == [kept.job_id]


def test_opting_out_by_class_or_by_call_sends_at_once(django_setup: Any, rows: None) -> None:
    from django.db import transaction
    from reports.jobs import ReportGenerationJob
    from reports.models import Report

    with enqueued_jobs_recorded() as enqueued, transaction.atomic():
        by_class = AtOnceJob.perform_later(1)
        by_call = ReportGenerationJob.set(after_commit=False).perform_later(Report.objects.create(title="now"))
        assert recorded_ids(enqueued) == [by_class.job_id, by_call.job_id]
    with pytest.raises(ValueError, match=r"set\(after_commit=...\) expects True or False, got 'no'"):
        ReportGenerationJob.set(after_commit="no")


def test_a_transaction_on_another_database_holds_the_job_too(django_setup: Any, rows: None) -> None:
    from django.db import transaction
    from reports.models import Token

    with enqueued_jobs_recorded() as enqueued:
        with transaction.atomic(using="other"):
            Token.objects.using("other").create(label="t")
            with transaction.atomic(using="default"):
                job = AtOnceJob.set(after_commit=True).perform_later(2)
            assert recorded_ids(enqueued) == []  # default committed; "other" is still open
        assert recorded_ids(enqueued) == [job.job_id]


def test_inside_a_test_case_jobs_are_recorded_at_once_and_its_own_atomic_waits_for_captured_callbacks(
    django_setup: Any, rows: None
) -> None:
    from django.db import transaction
    from django.test import TestCase

    class Case(TestCase):
        databases: ClassVar[set[str]] = {"default"}

        def runTest(self) -> None:  # noqa: N802  # unittest's name
            with enqueued_jobs_recorded() as enqueued:
                at_once = AtOnceJob.set(after_commit=True).perform_later(1)  # the test case's atomic only
                assert recorded_ids(enqueued) == [at_once.job_id]
                with self.captureOnCommitCallbacks(execute=True) as callbacks:
                    with transaction.atomic():
                        held = AtOnceJob.set(after_commit=True).perform_later(2)
                    assert recorded_ids(enqueued) == [at_once.job_id]
                assert len(callbacks) == 1
                assert recorded_ids(enqueued) == [at_once.job_id, held.job_id]

    result = unittest.TestResult()
    unittest.TestSuite([Case()]).run(result)  # as a runner does: setUpClass, the test's own atomic blocks
    assert result.testsRun == 1
    assert result.wasSuccessful(), result.failures + result.errors


def test_a_real_worker_runs_a_committed_job_with_its_row_and_never_a_rolled_back_one(project_worker: Service) -> None:
    from django.db import transaction
    from reports.jobs import ReportGenerationJob
    from reports.models import Report

    rolled_back = enqueue_then_roll_back(ReportGenerationJob, Report, "never")
    with transaction.atomic():
        report = Report.objects.create(title="committed")
        committed = ReportGenerationJob.perform_later(report)
        time.sleep(0.5)  # the worker idles meanwhile: had the job been sent, it would run before the row exists

    project_worker.wait_for(f"ReportGenerationJob[{committed.job_id}] succeeded", timeout_s=30)
    assert Report.objects.get(pk=report.pk).body == "generated: committed"
    assert rolled_back.job_id not in project_worker.output


def test_a_send_that_fails_after_the_commit_is_logged_with_a_command_that_sends_it_again(
    django_setup: Any, project_app: Celery, rows: None, caplog: pytest.LogCaptureFixture
) -> None:
    from django.db import transaction
    from reports.jobs import ReportGenerationJob
    from reports.models import Report

    from conveyor.cli.jobs_group import jobs
    from conveyor.devserver import free_port

    away = conveyor.configure(Celery("away"), default=False, broker_url=f"redis://127.0.0.1:{free_port()}/0")
    away.set_current()
    try:
        with caplog.at_level(logging.ERROR, logger="conveyor.django"), transaction.atomic():
            report = Report.objects.create(title="replayed")
            lost = ReportGenerationJob.perform_later(report)
    finally:
        project_app.set_current()
    assert lost.successfully_enqueued is False
    [record] = [r for r in caplog.records if r.name == "conveyor.django"]
    assert f"ReportGenerationJob (Job ID: {lost.job_id}) was NOT sent after its transaction committed" in record.message
    command = shlex.split(record.message.split("Send it again with: ", 1)[1])
    assert command[:5] == ["celery", "-A", "<app>", "jobs", "enqueue"]

    # The logged command, run against the project's app, sends it with the row loaded again
    with enqueued_jobs_recorded() as enqueued:
        result = invoke(project_app, jobs, *command[4:])
    assert result.exit_code == 0, result.output
    [sent] = enqueued.jobs
    assert sent.args == (Report.objects.get(pk=report.pk),)
