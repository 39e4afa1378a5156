"""The service's mailers. Templates live in ``app/templates/<mailer_name>/``.

Example::

    UserMailer.welcome_email(user).deliver_later()
"""

from __future__ import annotations

from email.message import EmailMessage
from pathlib import Path

from app.models import Report, User
from config.settings import settings
from conveyor import Mailer

__all__ = ["ApplicationMailer", "ReportMailer", "UserMailer"]


class ApplicationMailer(Mailer):
    default_from = settings.mail_from
    template_path = Path(__file__).parent / "templates"


class UserMailer(ApplicationMailer):
    def welcome_email(self, user: User) -> EmailMessage:
        return self.mail(to=user.email, subject="Welcome!", template="welcome_email")

    def notification(self, user: User, message: str) -> EmailMessage:
        return self.mail(to=user.email, subject="A notification", text=f"Hello {user.name},\n\n{message}\n")


class ReportMailer(ApplicationMailer):
    def report_ready(self, report: Report, recipient: str) -> EmailMessage:
        csv = f"id,title,status\n{report.id},{report.title},{report.status}\n"
        return self.mail(
            to=recipient,
            subject=f"Your report {report.title!r} is ready",
            template="report_ready",
            attachments={f"report-{report.id}.csv": csv.encode()},  # bytes: base64, so line ends stay as they are
        )
