"""Mailers of the pack's tests. Templates live in ``tests/conveyor/mail/templates/<mailer_name>/``.

``ApplicationMailer`` names no sender: messages are from the app's
``conveyor_mail_default_from``, which this folder's conftest sets to ``SENDER``.

Example::

    UserMailer.welcome_email(user).deliver_later()
"""

from __future__ import annotations

import csv
import io
from email.message import EmailMessage
from pathlib import Path

from conveyor import Mailer, action
from tests.conveyor.sqlalchemy.models import Report, User

__all__ = ["SENDER", "ApplicationMailer", "ReportMailer", "UserMailer"]

#: The pack app's ``conveyor_mail_default_from`` while these tests run.
SENDER = "Conveyor Pack Tests <noreply@localhost>"


class ApplicationMailer(Mailer):
    template_path = Path(__file__).parent / "templates"


class UserMailer(ApplicationMailer):
    @action
    def welcome_email(self, user: User) -> EmailMessage:
        return self.mail(to=user.email, subject="Welcome!", template="welcome_email")


class ReportMailer(ApplicationMailer):
    @action
    def report_ready(self, report: Report, recipient: str) -> EmailMessage:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerows([["id", "title", "status"], [report.id, report.title, report.status]])
        return self.mail(
            to=recipient,
            subject=f"Your report {report.title!r} is ready",
            template="report_ready",
            attachments={f"report-{report.id}.csv": buffer.getvalue().encode()},  # bytes: base64, line ends kept
        )
