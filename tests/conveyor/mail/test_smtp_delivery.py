"""deliver_later end to end: a real worker renders and sends to a real SMTP server (aiosmtpd).

On the pack's app (``tests/conveyor/conftest.py``), test mailers and models: the worker
thread consumes the ``mailers`` queue, where ``deliver_later`` puts ``MailDeliveryJob``.
"""

from __future__ import annotations

import email
import email.policy
import threading
import uuid
from collections.abc import Iterator
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from celery import Celery
from celery.signals import task_retry

from conveyor.devserver import free_port
from conveyor.testing import worker_thread
from tests.conftest import require_redis
from tests.conveyor.mail.mailers import SENDER, ReportMailer, UserMailer
from tests.conveyor.sqlalchemy.models import Report, Session, User

pytestmark = pytest.mark.redis


class Inbox:
    """An aiosmtpd handler keeping what the server received; tests wait on it."""

    def __init__(self) -> None:
        self.received: list[tuple[str, list[str], EmailMessage]] = []
        self._changed = threading.Condition()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's hook name
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self._changed:
            self.received.append((envelope.mail_from, list(envelope.rcpt_tos), message))  # type: ignore[arg-type]
            self._changed.notify_all()
        return "250 Message accepted for delivery"

    def wait_for(self, count: int, timeout_s: float = 20) -> list[tuple[str, list[str], EmailMessage]]:
        with self._changed:
            if not self._changed.wait_for(lambda: len(self.received) >= count, timeout_s):
                raise AssertionError(f"the SMTP server received {len(self.received)} of {count} messages")
            return list(self.received)


@pytest.fixture
def smtp_port(celery_app: Celery) -> Iterator[int]:
    """A free loopback port the app's SMTP settings point at (a server may or may not listen there)."""
    port = free_port()
    previous = {
        key: celery_app.conf.get(key) for key in ("conveyor_smtp_host", "conveyor_smtp_port", "conveyor_mail_backend")
    }
    celery_app.conf.update(conveyor_smtp_host="127.0.0.1", conveyor_smtp_port=port, conveyor_mail_backend="smtp")
    yield port
    celery_app.conf.update(previous)


def smtp_server(port: int, inbox: Inbox) -> Controller:
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    return controller


@pytest.fixture
def mail_worker(celery_app: Celery, redis_client: Any) -> Iterator[None]:
    require_redis()
    with worker_thread(celery_app, queues=["mailers"]):
        yield


def make_user_and_report() -> tuple[User, Report]:
    with Session.begin() as session:
        user = User(email=f"grace-{uuid.uuid4().hex}@example.com", name="Grace")
        report = Report(title="Q4 numbers", status="completed")
        session.add_all([user, report])
    return user, report


def test_the_worker_renders_and_sends_the_message_the_smtp_server_receives(smtp_port: int, mail_worker: None) -> None:
    inbox = Inbox()
    server = smtp_server(smtp_port, inbox)
    try:
        user, report = make_user_and_report()
        welcome = UserMailer.welcome_email(user).deliver_later()
        ReportMailer.report_ready(report, "boss@example.com").deliver_later()

        received = inbox.wait_for(2)
    finally:
        server.stop()

    assert welcome.queue_name == "mailers"
    by_subject = {message["Subject"]: (sender, recipients, message) for sender, recipients, message in received}
    sender, recipients, message = by_subject["Welcome!"]
    assert (sender, recipients) == ("noreply@localhost", [user.email])
    assert message["From"] == SENDER
    assert message["To"] == user.email
    assert message["Message-ID"].endswith("@localhost>")
    assert message.get_content_type() == "multipart/alternative"
    assert message.get_body(("plain",)).get_content().startswith("Hello Grace,")  # type: ignore[union-attr]
    assert f"<strong>{user.email}</strong>" in message.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert welcome.async_result.get(timeout=10) is None

    _, recipients, report_message = by_subject["Your report 'Q4 numbers' is ready"]
    assert recipients == ["boss@example.com"]
    assert report_message.get_content_type() == "multipart/mixed"
    [attachment] = list(report_message.iter_attachments())
    assert attachment.get_filename() == f"report-{report.id}.csv"
    assert attachment.get_content() == f"id,title,status\n{report.id},Q4 numbers,completed\n"


def test_with_the_smtp_server_down_the_job_retries_and_delivers_once_it_is_up(
    smtp_port: int, mail_worker: None
) -> None:
    retried = threading.Event()

    def on_retry(**_: Any) -> None:
        retried.set()

    task_retry.connect(on_retry, weak=False)
    try:
        user, _ = make_user_and_report()
        job = UserMailer.welcome_email(user).deliver_later()
        assert retried.wait(20), "the delivery job did not retry after the connection was refused"

        inbox = Inbox()
        server = smtp_server(smtp_port, inbox)  # up now, before the retry (≈3 s later)
        try:
            [(_, recipients, message)] = inbox.wait_for(1)
        finally:
            server.stop()
    finally:
        task_retry.disconnect(on_retry)

    assert recipients == [user.email]
    assert message["Subject"] == "Welcome!"
    assert job.async_result.get(timeout=10) is None
    assert job.async_result.retries == 1
