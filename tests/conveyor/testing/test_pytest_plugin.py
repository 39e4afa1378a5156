"""``conveyor.testing.pytest_plugin``: the ``enqueued_jobs`` and ``deliveries`` fixtures and ``require_broker``."""

from __future__ import annotations

from email.message import EmailMessage

import pytest
from celery import Celery

from conveyor.mail.delivery import backend_for
from conveyor.testing import EnqueuedJobs
from conveyor.testing.pytest_plugin import require_broker
from tests.jobs import EchoJob

DOWN = "redis://:hunter2@127.0.0.1:1/0"


def test_enqueued_jobs_records_what_the_test_enqueues(enqueued_jobs: EnqueuedJobs) -> None:
    job = EchoJob.perform_later("hello")
    assert [entry.job_id for entry in enqueued_jobs.jobs] == [job.job_id]


def test_deliveries_keeps_what_is_sent_whatever_the_apps_backend(deliveries: list[EmailMessage]) -> None:
    # Given an app whose settings say SMTP
    app = Celery("smtp-app", set_as_current=False)
    mail = EmailMessage()
    mail["Subject"] = "kept"
    # When a message is sent through its backend
    backend_for(app).send(mail)
    # Then it is kept, not sent
    assert deliveries == [mail]


def test_a_broker_that_does_not_answer_skips_the_test_naming_it_without_the_password(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception) as skipped:
        require_broker(Celery("down", broker=DOWN, set_as_current=False))
    assert "the broker at redis://:***@127.0.0.1:1/0 does not answer" in str(skipped.value)
    assert "hunter2" not in str(skipped.value)


def test_under_ci_a_broker_that_does_not_answer_fails_the_test(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="failing because CI=true"):
        require_broker(Celery("down-ci", broker=DOWN, set_as_current=False))
