"""``conveyor.jobs.logs``: the log lines in ActiveJob's words, their tags, and escaping what comes from a message.

``one_line`` and ``printable``; ``JobLogger`` (prefix, tags, escaped string arguments); the line of each
event; ``log_arguments`` (the class's, else the app's) hiding arguments; nothing formatted for a level that is off.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterator

import pytest
from celery import Celery

import conveyor
from conveyor import Job, RecordNotFound
from conveyor.jobs import logs
from conveyor.jobs.logs import JobLogger, one_line, printable
from tests.conftest import TEST_REDIS_URL
from tests.jobs import DataProcessingJob, EchoJob, SecretJob

UTC = dt.UTC
ENQUEUED_AT = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


class LoudJob(Job):
    log_arguments = True

    def perform(self, secret: str) -> None: ...


@pytest.fixture
def job() -> EchoJob:
    """A job as the log lines see it once enqueued: a queue, an enqueue time, arguments."""
    job = EchoJob(42, name="x")
    job.queue_name, job.enqueued_at = "reports", ENQUEUED_AT
    return job


@pytest.fixture
def quiet_app(celery_app: Celery) -> Iterator[Celery]:
    """The current app is one configured with conveyor_log_arguments=False."""
    app = conveyor.configure(
        Celery("quiet", set_as_current=False), default=False, broker_url=TEST_REDIS_URL, conveyor_log_arguments=False
    )
    app.set_current()
    yield app
    celery_app.set_current()


def lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.name == "conveyor"]


# --- escaping ------------------------------------------------------------------------------------------


def test_one_line_escapes_every_control_character_so_nothing_can_start_a_line_of_its_own() -> None:
    # Given text with newline, carriage return, tab, NUL, ESC, DEL and a C1 control, and non-ASCII text
    text = "a\nb\rc\td\x00e\x1bf\x7fg\x85h é ✓"

    # When made one line / Then each control character is written out, the rest kept
    assert one_line(text) == "a\\nb\\rc\\x09d\\x00e\\x1bf\\x7fg\\x85h é ✓"
    assert one_line(12) == "12"


def test_printable_keeps_newlines_and_tabs_but_escapes_what_moves_the_cursor_or_recolours() -> None:
    assert printable("line 1\nline 2\tend\r\x1b[2J\x9b") == "line 1\nline 2\tend\\r\\x1b[2J\\x9b"
    assert printable(None) == "None"


def test_a_job_logger_prefixes_tags_and_escapes_the_string_arguments(caplog: pytest.LogCaptureFixture) -> None:
    # Given a job logger for an id that carries a newline (as a forged message could)
    caplog.set_level(logging.INFO, logger="tests.logs")
    logger = JobLogger(logging.getLogger("tests.logs"), "ImportJob", "id\nforged")

    # When a line is logged with a string argument holding a newline, a number, and extra fields
    logger.info("got %s and %d", "x\nINFO forged", 3, extra={"user": "u"})

    # Then the line is one line, prefixed with the class and id; the record keeps the tags and the extra
    [record] = caplog.records
    assert record.getMessage() == "[ImportJob] [id\\nforged] got x\\nINFO forged and 3"
    assert (record.job_class, record.job_id, record.user) == ("ImportJob", "id\nforged", "u")  # type: ignore[attr-defined]


def test_every_record_of_a_job_is_tagged_with_its_class_and_id(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    job = DataProcessingJob(1)
    job.perform_now()
    tagged = [r for r in caplog.records if getattr(r, "job_id", None) == job.job_id]
    assert {r.name for r in tagged} == {"conveyor", "tests.jobs"}
    assert all(r.job_class == "DataProcessingJob" for r in tagged)  # type: ignore[attr-defined]
    assert any(r.getMessage().startswith(f"[DataProcessingJob] [{job.job_id}] Performed") for r in tagged)


# --- the lines -------------------------------------------------------------------------------------------


def _scheduled(job: EchoJob) -> None:
    job.scheduled_at = ENQUEUED_AT + dt.timedelta(hours=1)
    logs.enqueued(job)


def _duplicate(job: EchoJob) -> None:
    job.duplicate_of = "holder-id"
    logs.duplicate(job)


@pytest.mark.parametrize(
    ("log", "level", "line"),
    [
        (logs.enqueued, logging.INFO, "Enqueued EchoJob (Job ID: {id}) to reports with arguments: 42, name='x'"),
        (
            _scheduled,
            logging.INFO,
            "Enqueued EchoJob (Job ID: {id}) to reports at 2026-01-02T04:04:05+00:00 with arguments: 42, name='x'",
        ),
        (
            logs.performing,
            logging.INFO,
            "Performing EchoJob (Job ID: {id}) from reports enqueued at 2026-01-02T03:04:05+00:00 "
            "with arguments: 42, name='x'",
        ),
        (
            lambda job: logs.performed(job, 12.3456),
            logging.INFO,
            "Performed EchoJob (Job ID: {id}) from reports in 12.35 ms",
        ),
        (
            lambda job: logs.retrying(job, 5, ConnectionError("refused"), 1, 3),
            logging.INFO,
            "Retrying EchoJob (Job ID: {id}) in 5.00 seconds due to ConnectionError: refused (attempt 2/3)",
        ),
        (
            lambda job: logs.retrying(job, 0.5, ConnectionError("refused"), 4, None),
            logging.INFO,
            "Retrying EchoJob (Job ID: {id}) in 0.50 seconds due to ConnectionError: refused (attempt 5/unlimited)",
        ),
        (
            lambda job: logs.discarded(job, RecordNotFound("gone")),
            logging.WARNING,
            "Discarded EchoJob (Job ID: {id}) due to RecordNotFound: gone",
        ),
        (
            lambda job: logs.retry_stopped(job, ValueError("bad"), 3),
            logging.ERROR,
            "Stopped retrying EchoJob (Job ID: {id}) due to ValueError: bad, which reoccurred on 3 attempts",
        ),
        (
            lambda job: logs.perform_error(job, ValueError("bad"), 1.5),
            logging.ERROR,
            "Error performing EchoJob (Job ID: {id}) from reports in 1.50 ms: ValueError: bad",
        ),
        (
            logs.enqueue_halted,
            logging.INFO,
            "Failed enqueuing EchoJob to reports: a before_enqueue or around_enqueue callback halted the enqueuing",
        ),
        (
            logs.perform_halted,
            logging.INFO,
            "Halted EchoJob (Job ID: {id}): a before_perform or around_perform callback halted the job",
        ),
        (
            _duplicate,
            logging.INFO,
            "Did not enqueue EchoJob (Job ID: {id}): a duplicate of job holder-id, which holds its @unique lock",
        ),
        (
            lambda job: logs.resuming(job, "at step 'load'"),
            logging.INFO,
            "Resuming EchoJob (Job ID: {id}) at step 'load' (resumption 0)",
        ),
        (
            lambda job: logs.interrupted(job, "at step 'load'", ValueError("bad"), 3),
            logging.WARNING,
            "EchoJob (Job ID: {id}) raised ValueError: bad at step 'load' after making progress; "
            "resuming in 3.00 seconds",
        ),
    ],
    ids=lambda value: value if isinstance(value, int) else None,
)
def test_each_event_logs_its_line_tagged_with_the_job(
    job: EchoJob, caplog: pytest.LogCaptureFixture, log: Callable[[EchoJob], None], level: int, line: str
) -> None:
    # Given the conveyor logger at INFO / When the event is logged
    caplog.set_level(logging.INFO, logger="conveyor")
    log(job)

    # Then one record, at the event's level, reads the line after the job's prefix
    [record] = [r for r in caplog.records if r.name == "conveyor"]
    assert record.levelno == level
    assert record.getMessage() == f"[EchoJob] [{job.job_id}] " + line.format(id=job.job_id)
    assert (record.job_class, record.job_id) == ("EchoJob", job.job_id)  # type: ignore[attr-defined]


def test_a_job_without_arguments_logs_no_arguments_part(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="conveyor")
    job = EchoJob()
    job.queue_name = "reports"

    logs.enqueued(job)

    assert lines(caplog) == [f"[EchoJob] [{job.job_id}] Enqueued EchoJob (Job ID: {job.job_id}) to reports"]


# --- which arguments are shown -----------------------------------------------------------------------------


def test_log_arguments_false_on_the_class_hides_the_arguments(caplog: pytest.LogCaptureFixture) -> None:
    # Given a job declaring log_arguments = False
    caplog.set_level(logging.INFO, logger="conveyor")
    job = SecretJob("hunter2")
    job.queue_name, job.enqueued_at = "default", ENQUEUED_AT

    # When it is enqueued and performed
    logs.enqueued(job)
    logs.performing(job)

    # Then the lines say everything but the arguments
    assert lines(caplog) == [
        f"[SecretJob] [{job.job_id}] Enqueued SecretJob (Job ID: {job.job_id}) to default",
        f"[SecretJob] [{job.job_id}] Performing SecretJob (Job ID: {job.job_id}) from default "
        "enqueued at 2026-01-02T03:04:05+00:00",
    ]


@pytest.mark.usefixtures("quiet_app")
def test_an_app_that_logs_no_arguments_hides_them_unless_the_class_says_true(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Given an app with conveyor_log_arguments=False, a job declaring nothing and one declaring True
    caplog.set_level(logging.INFO, logger="conveyor")
    undeclared, loud = EchoJob("hunter2"), LoudJob("visible")
    undeclared.queue_name = loud.queue_name = "default"

    # When both are logged as enqueued
    logs.enqueued(undeclared)
    logs.enqueued(loud)

    # Then the app's setting hides the first's arguments; the class's True shows the second's
    assert lines(caplog) == [
        f"[EchoJob] [{undeclared.job_id}] Enqueued EchoJob (Job ID: {undeclared.job_id}) to default",
        f"[LoudJob] [{loud.job_id}] Enqueued LoudJob (Job ID: {loud.job_id}) to default with arguments: 'visible'",
    ]


def test_arguments_are_formatted_only_for_a_line_that_is_emitted(caplog: pytest.LogCaptureFixture) -> None:
    # Given an argument whose repr records each call
    calls: list[str] = []

    class Costly:
        def __repr__(self) -> str:
            calls.append("repr")
            return "<Costly>"

    job = EchoJob(Costly())
    job.queue_name = "default"

    # When the conveyor logger is at WARNING, then at INFO
    caplog.set_level(logging.WARNING, logger="conveyor")
    logs.enqueued(job)
    logs.performing(job)
    formatted_while_off = list(calls)
    caplog.set_level(logging.INFO, logger="conveyor")
    logs.enqueued(job)

    # Then nothing was formatted while the level was off; the line emitted shows them
    assert formatted_while_off == []
    assert calls != []
    assert lines(caplog)[-1].endswith("with arguments: <Costly>")


def test_a_queue_name_from_a_message_cannot_forge_a_line(caplog: pytest.LogCaptureFixture) -> None:
    # Given a queue name carrying a newline (a worker reads it from the message)
    caplog.set_level(logging.INFO, logger="conveyor")
    job = EchoJob()
    job.queue_name = "default\nINFO conveyor: forged"

    # When the job's line is logged
    logs.enqueued(job)

    # Then it stays one line, the newline written out
    [line] = lines(caplog)
    assert "\n" not in line
    assert line.endswith("to default\\nINFO conveyor: forged")


@pytest.mark.parametrize("event", ["discarded", "retrying", "retry_stopped"])
def test_an_error_text_quoting_an_argument_cannot_forge_a_line(caplog: pytest.LogCaptureFixture, event: str) -> None:
    # Given an error whose text quotes an argument that carries a newline (as a file name from a message could)
    caplog.set_level(logging.INFO, logger="conveyor")
    job = EchoJob()
    job.queue_name = "default"
    error = LookupError("a.csv\nERROR conveyor: forged line")

    # When the job's discard, retry or give-up line is logged
    if event == "discarded":
        logs.discarded(job, error)
    elif event == "retrying":
        logs.retrying(job, 1.0, error, 1, 3)
    else:
        logs.retry_stopped(job, error, 3)

    # Then it stays one line, the newline written out
    [line] = lines(caplog)
    assert "\n" not in line
    assert "LookupError: a.csv\\nERROR conveyor: forged line" in line
