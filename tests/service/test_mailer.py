"""The service's mailers: its templates, its sender, its report CSV, its models by reference.

How mailers render, deliver and refuse is the pack's, tested on the pack's own mailers in
``tests/conveyor/mail/``; here only what the reference service adds.
"""

from __future__ import annotations

import uuid
from email.message import EmailMessage

import pytest

from app.mailers import ReportMailer, UserMailer
from app.models import Report, Session, User, create_all
from conveyor.mail.mailer import MailDeliveryJob
from conveyor.testing import EnqueuedJobs


@pytest.fixture
def user() -> User:
    create_all()
    with Session.begin() as session:
        user = User(email=f"ada-{uuid.uuid4().hex}@example.com", name="Ada")
        session.add(user)
    return user


def test_the_welcome_email_renders_the_services_templates_from_its_sender(
    user: User, deliveries: list[EmailMessage]
) -> None:
    UserMailer.welcome_email(user).deliver_now()

    [message] = deliveries
    assert message["To"] == user.email
    assert message["From"] == "Conveyor Reference <noreply@localhost>"
    assert message["Subject"] == "Welcome!"
    assert message.get_content_type() == "multipart/alternative"
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None
    assert html is not None
    assert text.get_content() == f"Hello Ada,\n\nwelcome aboard! Your account for {user.email} is ready.\n"
    assert f"<strong>{user.email}</strong>" in html.get_content()


def test_the_report_ready_email_attaches_the_report_as_spreadsheet_safe_csv(deliveries: list[EmailMessage]) -> None:
    create_all()
    with Session.begin() as session:
        report = Report(title="=Q3", status="completed")  # a title a spreadsheet would run as a formula
        session.add(report)

    ReportMailer.report_ready(report, "boss@example.com").deliver_now()

    [message] = deliveries
    assert message["Subject"] == "Your report '=Q3' is ready"
    assert message.get_content_type() == "multipart/mixed"
    [attachment] = list(message.iter_attachments())
    assert attachment.get_filename() == f"report-{report.id}.csv"
    assert attachment.get_content() == f"id,title,status\n{report.id},'=Q3,completed\n"


def test_a_welcome_email_for_a_user_created_in_a_transaction_goes_after_its_commit_with_the_user_by_reference(
    enqueued_jobs: EnqueuedJobs, deliveries: list[EmailMessage]
) -> None:
    create_all()
    with Session.begin() as session:  # the service's Session defers enqueues until commit (app/models.py)
        user = User(email=f"lin-{uuid.uuid4().hex}@example.com", name="Lin")
        session.add(user)
        session.flush()
        job = UserMailer.welcome_email(user).deliver_later()
        assert job.successfully_enqueued is None
        enqueued_jobs.assert_no_enqueued_jobs()

    assert job.successfully_enqueued is True
    entry = enqueued_jobs.assert_enqueued_with(job=MailDeliveryJob, queue="mailers")
    assert entry.serialized[0][:2] == ["app.mailers.UserMailer", "welcome_email"]
    assert entry.serialized[0][2][0]["_cj"] == "model:app.models.Base"  # the service's models go by reference

    enqueued_jobs.perform_all()

    [message] = deliveries
    assert message["To"] == user.email
    text = message.get_body(("plain",))
    assert text is not None
    assert text.get_content().startswith("Hello Lin,")  # rendered in the worker from the reloaded user
