"""The service's mailers. Templates live in ``app/templates/<mailer_name>/``.

Example::

    UserMailer.welcome_email(user).deliver_later()
"""

from __future__ import annotations

import csv
import io
from email.message import EmailMessage
from pathlib import Path

from app.models import Report, User
from config.settings import settings
from conveyor import Mailer, action

__all__ = ["ApplicationMailer", "ReportMailer", "UserMailer", "report_csv", "spreadsheet_safe"]

# A cell a spreadsheet would run as a formula (=HYPERLINK(...), +cmd|..., -, @), or that starts with a
# tab or carriage return (OWASP's CSV injection list).
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value: object) -> object:
    """A text cell that a spreadsheet shows as text: a leading formula character gets a ``'`` before it."""
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value


def report_csv(report: Report) -> str:
    """The report as CSV (quoted by the csv module, formulas neutralised: titles come from users)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["id", "title", "status"])
    writer.writerow([report.id, spreadsheet_safe(report.title), spreadsheet_safe(report.status)])
    return buffer.getvalue()


class ApplicationMailer(Mailer):
    default_from = settings.mail_from
    template_path = Path(__file__).parent / "templates"


class UserMailer(ApplicationMailer):
    @action
    def welcome_email(self, user: User) -> EmailMessage:
        return self.mail(to=user.email, subject="Welcome!", template="welcome_email")

    @action
    def notification(self, user: User, message: str) -> EmailMessage:
        return self.mail(to=user.email, subject="A notification", text=f"Hello {user.name},\n\n{message}\n")


class ReportMailer(ApplicationMailer):
    @action
    def report_ready(self, report: Report, recipient: str) -> EmailMessage:
        return self.mail(
            to=recipient,
            subject=f"Your report {report.title!r} is ready",
            template="report_ready",
            attachments={
                f"report-{report.id}.csv": report_csv(report).encode()
            },  # bytes: base64, so line ends stay as they are
        )
