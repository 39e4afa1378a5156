"""``celery -A app schedule check|list``, and ``next_runs``, on schedule files of the test's own."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import redis

from conveyor.cli.schedule_group import next_runs, schedule
from conveyor.schedule.file import ScheduledJob
from tests.conveyor.cli.running import invoke

SCHEDULE = """
nightly_report:
  job: tests.jobs.ReportGenerationJob
  cron: "0 3 * * *"
  timezone: Europe/Paris
  args: [1]
  description: The nightly report
heartbeat:
  job: tests.jobs.EchoJob
  every: 60
  enabled: false
"""


def test_check_accepts_a_valid_file_and_counts_its_entries(celery_app: Any, tmp_path: Path) -> None:
    path = tmp_path / "schedule.yaml"
    path.write_text(SCHEDULE)
    result = invoke(celery_app, schedule, "check", "--file", str(path))
    assert (result.exit_code, result.stdout) == (0, f"{path}: 2 entries OK\n")


def test_check_exits_1_listing_every_problem_and_changing_nothing(celery_app: Any, tmp_path: Path) -> None:
    path = tmp_path / "schedule.yaml"
    path.write_text("a:\n  job: tests.jobs.EchoJob\n  cron: nonsense\nb:\n  job: tests.jobs.NoSuchJob\n  every: 5\n")
    result = invoke(celery_app, schedule, "check", "--file", str(path))
    assert result.exit_code == 1
    problems = result.stderr.splitlines()
    assert problems[-1] == f"{path}: 2 problem(s); nothing was changed"
    assert [line.split(":")[1].strip() for line in problems[:-1]] == ["a.cron", "b.job"]


def test_list_json_shows_each_entry_in_words_with_its_zone_next_runs_and_last_run(
    celery_app: Any, tmp_path: Path, redis_client: redis.Redis
) -> None:
    # Given a schedule never synced into redbeat
    path = tmp_path / "schedule.yaml"
    path.write_text(SCHEDULE)
    # When it is listed as JSON
    result = invoke(celery_app, schedule, "list", "--file", str(path), "--json")
    # Then each entry has its words, zone, three next runs and no last run
    assert result.exit_code == 0, result.output
    nightly, heartbeat = json.loads(result.stdout)
    assert (nightly["name"], nightly["job"], nightly["timezone"]) == (
        "nightly_report",
        "tests.jobs.ReportGenerationJob",
        "Europe/Paris",
    )
    assert nightly["description"] == "The nightly report"
    assert len(nightly["next_runs"]) == 3
    assert all(" 03:00" in run for run in nightly["next_runs"]), nightly["next_runs"]
    assert (nightly["last_run"], nightly["enabled"], heartbeat["enabled"]) == ("never", True, False)


def test_list_of_an_invalid_file_shows_its_problems_and_the_schedule_beat_keeps_running(
    celery_app: Any, tmp_path: Path, redis_client: redis.Redis
) -> None:
    # Given a valid schedule synced into redbeat (as beat does), then the file saved with a mistake
    from conveyor.schedule.beat import sync_schedule
    from conveyor.schedule.file import load_schedule

    path = tmp_path / "schedule.yaml"
    path.write_text(SCHEDULE)
    sync_schedule(celery_app, load_schedule(path, "UTC"))
    path.write_text(SCHEDULE.replace('cron: "0 3 * * *"', 'cron: "0 25 * * *"'))
    # When it is listed
    result = invoke(celery_app, schedule, "list", "--file", str(path))
    # Then the file's problem comes first, and what redbeat runs (the last good schedule) is listed
    assert result.exit_code == 1
    assert "nightly_report.cron: invalid cron expression '0 25 * * *'" in result.stderr
    assert f"{path}: 1 problem(s); beat keeps running the schedule below" in result.stderr
    assert result.stdout.startswith("redbeat (what beat runs): 2 entries\n")
    assert "\nnightly_report  tests.jobs.ReportGenerationJob\n" in result.stdout
    assert '(cron "0 3 * * *")' in result.stdout
    assert "\nheartbeat  tests.jobs.EchoJob\n  schedule   every 1 minute\n  enabled    no\n" in result.stdout


def every_minute() -> ScheduledJob:
    return ScheduledJob(name="tick", job="tests.jobs.TickJob", task="t", cron=None, every_s=60, timezone="UTC")


def test_an_interval_runs_next_one_interval_after_its_last_run() -> None:
    last = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=20)
    runs = next_runs(every_minute(), last)
    assert runs == [last + dt.timedelta(seconds=60 * n) for n in (1, 2, 3)]


def test_an_interval_overdue_or_never_run_runs_next_from_now() -> None:
    before = dt.datetime.now(dt.UTC)
    overdue = next_runs(every_minute(), before - dt.timedelta(hours=1), count=2)
    assert overdue[0] >= before
    assert overdue[1] - overdue[0] == dt.timedelta(seconds=60)
    assert next_runs(every_minute(), None, count=1)[0] >= before + dt.timedelta(seconds=60)
