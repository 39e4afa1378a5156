"""The seed's report job, on the Django ORM: its argument is the model instance itself."""

from conveyor import Job, discard_on
from conveyor.errors import RecordNotFound
from reports.models import Code, Report, Token


@discard_on(RecordNotFound)
class ReportGenerationJob(Job):
    queue_as = "default"

    def perform(self, report: Report) -> str:
        report.body = f"generated: {report.title}"
        report.save(update_fields=["body"])
        return report.body


class LabelJob(Job):
    """Writes where it found its arguments, so the test reads what the worker loaded."""

    queue_as = "default"

    def perform(self, token: Token, code: Code) -> None:
        code.used_by = f"{token.label}@{token._state.db}"
        code.save(update_fields=["used_by"])
