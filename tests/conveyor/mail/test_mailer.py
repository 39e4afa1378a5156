"""Mailers: rendering, deliver_now into the test backend, deliver_later as a job.

On the pack's test mailers (``mailers.py``) and models (``tests/conveyor/sqlalchemy/models.py``).
"""

from __future__ import annotations

import asyncio
import uuid
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from conveyor import Mailer, MailerError, RecordNotFound, SerializationError, action
from conveyor.mail.mailer import ACCESSED_THEN_LATER, MailDeliveryJob
from conveyor.testing import EnqueuedJobs
from tests.conveyor.mail.mailers import SENDER, ReportMailer, UserMailer
from tests.conveyor.sqlalchemy.models import Report, Session, User


@pytest.fixture
def user() -> User:
    with Session.begin() as session:
        user = User(email=f"ada-{uuid.uuid4().hex}@example.com", name="Ada")
        session.add(user)
    return user


def test_deliver_now_renders_both_templates_into_multipart_alternative(
    user: User, deliveries: list[EmailMessage]
) -> None:
    UserMailer.welcome_email(user).deliver_now()

    [message] = deliveries
    assert message["To"] == user.email
    assert message["From"] == SENDER  # the app's conveyor_mail_default_from: the mailer names none
    assert message["Subject"] == "Welcome!"
    assert message.get_content_type() == "multipart/alternative"
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None
    assert html is not None
    assert "Hello Ada," in text.get_content()
    assert f"<strong>{user.email}</strong>" in html.get_content()


def test_html_templates_escape_values(tmp_path: Path, deliveries: list[EmailMessage]) -> None:
    (tmp_path / "note_mailer").mkdir()
    (tmp_path / "note_mailer" / "note.html").write_text("<p>{{ text }}</p>")

    class NoteMailer(Mailer):
        default_from = "a@example.com"
        template_path = tmp_path

        def note(self, text: str) -> EmailMessage:
            return self.mail(
                to="b@example.com", subject="n", template="note", cc=["c@example.com"], bcc="d@example.com"
            )

    # Undecorated, note is an action all the same at run time; only a type checker needs @action.
    NoteMailer.note("<script>").deliver_now()  # type: ignore[call-arg, arg-type, attr-defined]
    [message] = deliveries
    assert message.get_content_type() == "text/html"
    assert message.get_content().strip() == "<p>&lt;script&gt;</p>"
    assert (message["Cc"], message["Bcc"]) == ("c@example.com", "d@example.com")
    assert message["From"] == "a@example.com"  # the mailer's default_from before the app's


def test_attachments_make_a_mixed_message(user: User, deliveries: list[EmailMessage]) -> None:
    with Session.begin() as session:
        report = Report(title="Q3", status="completed")
        session.add(report)

    ReportMailer.report_ready(report, "boss@example.com").deliver_now()

    [message] = deliveries
    assert message.get_content_type() == "multipart/mixed"
    [attachment] = list(message.iter_attachments())
    assert attachment.get_filename() == f"report-{report.id}.csv"
    assert attachment.get_content() == f"id,title,status\n{report.id},Q3,completed\n"


def test_deliver_later_enqueues_the_action_and_its_arguments_not_the_message(
    user: User, enqueued_jobs: EnqueuedJobs, deliveries: list[EmailMessage]
) -> None:
    UserMailer.welcome_email(user).deliver_later()
    UserMailer.welcome_email(user).deliver_later(wait=3600)

    enqueued_jobs.assert_enqueued_email_with(UserMailer, "welcome_email", args=(user,))
    entry = enqueued_jobs.assert_enqueued_with(job=MailDeliveryJob, queue="mailers")
    assert entry.serialized[0][:2] == ["tests.conveyor.mail.mailers.UserMailer", "welcome_email"]
    assert entry.serialized[0][2][0]["_cj"] == "model:tests.conveyor.sqlalchemy.models.Base"  # the user by reference
    assert deliveries == []

    enqueued_jobs.perform_all()

    assert [m["To"] for m in deliveries] == [user.email, user.email]


def test_mails_delivered_later_in_a_batch_are_its_jobs_and_it_finishes_when_they_are_sent(
    user: User, enqueued_jobs: EnqueuedJobs, deliveries: list[EmailMessage]
) -> None:
    from conveyor import Batch

    batch = Batch(description="welcome mails")
    with batch.jobs():
        UserMailer.welcome_email(user).deliver_later()
        UserMailer.welcome_email(user).deliver_later(wait=60)
    assert [job.meta.get("batch") for job in enqueued_jobs.jobs] == [batch.id, batch.id]
    assert batch.status.pending == 2
    enqueued_jobs.perform_all()
    assert len(deliveries) == 2
    assert (batch.status.finished, batch.status.succeeded) == (True, 2)


def test_adeliver_later_enqueues_from_a_running_loop_as_deliver_later_does(
    user: User, enqueued_jobs: EnqueuedJobs, deliveries: list[EmailMessage]
) -> None:
    async def main() -> MailDeliveryJob:
        return await UserMailer.welcome_email(user).adeliver_later(wait=60)

    job = asyncio.run(main())
    assert job.successfully_enqueued
    enqueued_jobs.assert_enqueued_email_with(UserMailer, "welcome_email", args=(user,))
    enqueued_jobs.perform_all()
    assert [m["To"] for m in deliveries] == [user.email]


def test_a_failed_email_assertion_lists_the_emails_enqueued(user: User, enqueued_jobs: EnqueuedJobs) -> None:
    UserMailer.welcome_email(user).deliver_later()
    with pytest.raises(AssertionError) as caught:
        enqueued_jobs.assert_enqueued_email_with(ReportMailer, "report_ready")
    assert str(caught.value).startswith(
        "No email enqueued for ReportMailer.report_ready\n\nEmails enqueued:\n"
        "  UserMailer.welcome_email(args=(<tests.conveyor.sqlalchemy.models.User"
    )


def test_reading_the_message_then_delivering_later_is_refused(user: User, enqueued_jobs: EnqueuedJobs) -> None:
    delivery = UserMailer.welcome_email(user)
    assert delivery.message is not None
    assert delivery.message["Subject"] == "Welcome!"
    with pytest.raises(MailerError) as caught:
        delivery.deliver_later()
    assert str(caught.value) == ACCESSED_THEN_LATER
    enqueued_jobs.assert_no_enqueued_jobs()


def test_an_unsaved_model_cannot_be_sent_by_reference(enqueued_jobs: EnqueuedJobs) -> None:
    with pytest.raises(SerializationError, match="User has no primary key yet: add it to a session and flush"):
        UserMailer.welcome_email(User(email="x@example.com", name="X")).deliver_later()


def test_a_user_deleted_before_delivery_is_a_record_not_found(user: User, enqueued_jobs: EnqueuedJobs) -> None:
    UserMailer.welcome_email(user).deliver_later()
    with Session.begin() as session:
        session.delete(session.get(User, user.id))
    with pytest.raises(RecordNotFound, match=f"User with primary key \\[{user.id}\\] no longer exists"):
        enqueued_jobs.perform_all()


def test_wrong_action_arguments_fail_at_the_call() -> None:
    with pytest.raises(TypeError, match=r"UserMailer\.welcome_email: missing a required argument: 'user'"):
        UserMailer.welcome_email()  # type: ignore[call-arg]


def test_missing_templates_and_sender_are_explained(tmp_path: Path, celery_app: Any) -> None:
    class BareMailer(Mailer):
        template_path = tmp_path

        @action
        def hello(self) -> EmailMessage:
            return self.mail(to="a@example.com", subject="hi", from_="b@example.com", template="hello")

        @action
        def anonymous(self) -> EmailMessage:
            return self.mail(to="a@example.com", subject="hi", text="x")

    with pytest.raises(MailerError, match=r"no template hello\.txt or hello\.html in .*bare_mailer"):
        BareMailer.hello().deliver_now()

    previous = celery_app.conf.conveyor_mail_default_from
    celery_app.conf.conveyor_mail_default_from = None
    try:
        with pytest.raises(MailerError, match=r"has no sender: pass from_=\.\.\., set default_from"):
            BareMailer.anonymous().deliver_now()
    finally:
        celery_app.conf.conveyor_mail_default_from = previous
