"""schedule.yaml: parsing, and every validation error with its file, entry and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from conveyor.errors import ScheduleError
from conveyor.schedule.file import load_schedule, parse_every

ROOT = Path(__file__).resolve().parents[3]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "schedule.yaml"
    path.write_text(text)
    return path


def test_the_design_example_loads_as_written(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
daily_cleanup:
  cron: "0 2 * * *"             # 5 fields, or 6 with seconds; or  every: "5 minutes"
  job: tests.jobs.TickJob
  queue: maintenance            # optional; else the job's queue
  args: []                      # optional; kwargs: {} too
  timezone: Europe/Berlin       # optional; default the app timezone (UTC)
  description: Clean up old records
  enabled: true
weekly_report:
  cron: "0 9 * * 1"
  job: tests.jobs.TickJob
every_five:
  every: "5 minutes"
  class: tests.jobs.TickJob     # sidekiq-cron's key
  kwargs: {label: five}
  priority: 1
""",
    )
    jobs = load_schedule(path)
    assert jobs["daily_cleanup"].options == {"queue": "maintenance"}
    assert jobs["daily_cleanup"].description == "Clean up old records"
    assert jobs["every_five"].every_s == 300
    assert jobs["every_five"].options == {"priority": 1}
    assert jobs["every_five"].kwargs == {"label": "five"}


def test_an_empty_file_is_an_empty_schedule(tmp_path: Path) -> None:
    assert load_schedule(write(tmp_path, "# nothing yet\n")) == {}


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        (
            "cron: '0 2 * * *'\n  job: tasks.nope.NopeJob",
            "e.job: unknown job 'tasks.nope.NopeJob': cannot import module 'tasks.nope'",
        ),
        (
            "cron: '0 2 * * *'\n  job: tests.jobs.NoSuchJob",
            "e.job: unknown job 'tests.jobs.NoSuchJob': module 'tests.jobs' has no 'NoSuchJob'",
        ),
        ("cron: '0 2 * * *'\n  job: tests.jobs.Recorder", "e.job: 'tests.jobs.Recorder' is not a conveyor Job class"),
        (
            "cron: '0 2 * * *'\n  job: tests.jobs.ApplicationJob",
            "e.job: 'tests.jobs.ApplicationJob' is not a conveyor Job class",
        ),
        (
            "cron: '0 25 * * *'\n  job: tests.jobs.TickJob",
            "e.cron: invalid cron expression '0 25 * * *': hour 25 is outside 0-23",
        ),
        (
            "cron: '0 0 2 * 1-9'\n  job: tests.jobs.TickJob",
            "e.cron: invalid cron expression '0 0 2 * 1-9': day of week 9 is outside 0-7",
        ),
        (
            "cron: '61 0 2 * * *'\n  job: tests.jobs.TickJob",
            "e.cron: invalid cron expression '61 0 2 * * *': second 61 is outside 0-59",
        ),
        (
            "cron: '0 2 * *'\n  job: tests.jobs.TickJob",
            "e.cron: expected 5 fields (minute hour day month weekday) or 6 with seconds first",
        ),
        ("job: tests.jobs.TickJob", "e.cron: give exactly one of cron"),
        ("cron: '0 2 * * *'\n  every: 5 minutes\n  job: tests.jobs.TickJob", "e.cron: give exactly one of cron"),
        ("every: soon\n  job: tests.jobs.TickJob", 'e.every: expected a duration such as "30 seconds"'),
        ("every: 0 seconds\n  job: tests.jobs.TickJob", "e.every: expected a duration"),
        (
            "cron: '0 2 * * *'\n  job: tests.jobs.TickJob\n  timezone: Mars/Olympus",
            "e.timezone: unknown time zone 'Mars/Olympus'; use an IANA name",
        ),
        (
            "cron: '0 2 * * *'\n  job: tests.jobs.TickJob\n  retries: 3",
            "e.retries: unknown key; accepted: cron, every, job (or class)",
        ),
        (
            "cron: '0 2 * * *'\n  job: tests.jobs.TickJob\n  class: tests.jobs.TickJob",
            "e.class: give job or class (an alias of job), not both",
        ),
        ("cron: '0 2 * * *'", "e.job: missing: the dotted path of the Job class to run"),
        (
            "cron: '0 2 * * *'\n  job: tests.jobs.TickJob\n  args: [a, b]",
            "e.args: TickJob: too many positional arguments",
        ),
        (
            "cron: '0 2 * * *'\n  job: tests.jobs.TickJob\n  kwargs: {colour: red}",
            "e.args: TickJob: got an unexpected keyword argument 'colour'",
        ),
        (
            "cron: '0 2 * * *'\n  job: tests.jobs.EchoJob\n  args: [{1: 2}]",
            "e.args: EchoJob: argument 1 has a key of type int",
        ),
        ("cron: '0 2 * * *'\n  job: tests.jobs.TickJob\n  args: tick", "e.args: expected a list, got 'tick'"),
        ("cron: '0 2 * * *'\n  job: tests.jobs.TickJob\n  queue: 'two words'", "e.queue: queue must be a queue name"),
        ("cron: '0 2 * * *'\n  job: tests.jobs.TickJob\n  priority: 12", "e.priority: priority must be an int from 0"),
        (
            "cron: '0 2 * * *'\n  job: tests.jobs.TickJob\n  enabled: maybe",
            "e.enabled: expected true or false, got 'maybe'",
        ),
    ],
)
def test_each_problem_names_the_file_the_entry_and_the_field(tmp_path: Path, entry: str, problem: str) -> None:
    path = write(tmp_path, f"e:\n  {entry}\n")
    with pytest.raises(ScheduleError) as caught:
        load_schedule(path)
    assert any(line.startswith(problem) for line in caught.value.problems), caught.value.problems
    assert str(caught.value).startswith(f"{path}: e.")


def test_every_problem_of_the_file_is_reported_at_once(tmp_path: Path) -> None:
    path = write(tmp_path, "a:\n  cron: nope\n  job: tests.jobs.TickJob\nb:\n  every: 1 second\n  job: x.Y\n")
    with pytest.raises(ScheduleError) as caught:
        load_schedule(path)
    assert [problem.split(":")[0] for problem in caught.value.problems] == ["a.cron", "b.job"]


@pytest.mark.parametrize(
    ("text", "problem"),
    [("- a\n- b\n", "expected a mapping of entry names to entries"), ("a: [\n", "cannot read the schedule")],
)
def test_a_file_of_the_wrong_shape_is_refused(tmp_path: Path, text: str, problem: str) -> None:
    with pytest.raises(ScheduleError, match=problem):
        load_schedule(write(tmp_path, text))


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("30 seconds", 30),
        ("1 second", 1),
        ("5 minutes", 300),
        ("2 hours", 7200),
        ("1 day", 86400),
        ("1 week", 604800),
        (45, 45),
    ],
)
def test_every_accepts_durations_in_words_or_seconds(value: object, seconds: float) -> None:
    assert parse_every(value) == seconds
