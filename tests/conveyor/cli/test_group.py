"""``conveyor.cli.group.OneLineErrors``: a broker or conveyor error ends a command in one line, exit code 1."""

from __future__ import annotations

import click
import pytest
import redis
from celery import Celery
from click.testing import CliRunner
from kombu.exceptions import OperationalError

from conveyor.cli.group import OneLineErrors
from conveyor.errors import ScheduleError
from tests.conveyor.cli.running import error_line, invoke

BROKER = "redis://:hunter2@127.0.0.1:1/0"


def failing(error: BaseException) -> click.Group:
    @click.group(cls=OneLineErrors)
    def group() -> None:
        pass

    @group.command()
    def go() -> None:
        raise error

    return group


@pytest.mark.parametrize(
    "error",
    [redis.ConnectionError("Error 111 connecting"), OperationalError("refused"), TimeoutError("timed out")],
    ids=lambda error: type(error).__name__,
)
def test_a_broker_that_does_not_answer_is_one_line_naming_it_without_the_password(error: Exception) -> None:
    # Given an app whose broker URL carries a password
    app = Celery("cli-down", broker=BROKER, set_as_current=False)
    # When a command cannot reach it
    result = invoke(app, failing(error), "go")
    # Then one line names the broker, masked, and the error
    assert result.exit_code == 1
    assert error_line(result) == (
        f"Error: cannot reach the broker at redis://:***@127.0.0.1:1/0: {type(error).__name__}: {error}"
    )
    assert "hunter2" not in result.output


def test_without_an_app_the_line_names_no_broker() -> None:
    result = CliRunner().invoke(failing(redis.TimeoutError("slow")), ["go"], obj=None)
    assert result.exit_code == 1
    assert error_line(result) == "Error: cannot reach the broker: TimeoutError: slow"


def test_a_conveyor_error_is_its_message_alone() -> None:
    app = Celery("cli-error", set_as_current=False)
    result = invoke(app, failing(ScheduleError("schedule.yaml", ["nightly.cron: not a cron"])), "go")
    assert result.exit_code == 1
    assert error_line(result) == "Error: schedule.yaml: nightly.cron: not a cron"


def test_any_other_error_is_left_to_show_its_traceback() -> None:
    result = invoke(Celery("cli-bug", set_as_current=False), failing(KeyError("bug")), "go")
    assert isinstance(result.exception, KeyError)
