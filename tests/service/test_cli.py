"""`celery -A app schedule check|list|sync`, run as a user runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.processes  # runs processes

ROOT = Path(__file__).resolve().parents[2]


def celery(*args: str, schedule_file: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ}
    if schedule_file is not None:
        env["SCHEDULE_FILE"] = str(schedule_file)
    return subprocess.run(
        [sys.executable, "-m", "celery", "-A", "app", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_check_accepts_the_services_schedule() -> None:
    result = celery("schedule", "check")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"{ROOT / 'schedule.yaml'}: 2 entries OK"


def test_check_exits_1_listing_every_problem(tmp_path: Path) -> None:
    broken = tmp_path / "schedule.yaml"
    broken.write_text(
        "a:\n  cron: '0 2 * *'\n  job: tests.jobs.TickJob\nb:\n  every: 1 second\n  job: x.Y\n  color: red\n"
    )
    result = celery("schedule", "check", schedule_file=broken)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert (
        lines[0]
        == f"{broken}: a.cron: expected 5 fields (minute hour day month weekday) or 6 with seconds first, got '0 2 * *'"
    )
    assert any(line.startswith(f"{broken}: b.color: unknown key") for line in lines)
    assert any(line.startswith(f"{broken}: b.job: unknown job 'x.Y'") for line in lines)
    assert lines[-1] == f"{broken}: 3 problem(s); nothing was changed"


def test_list_shows_each_entry_in_words_with_its_zone_and_next_three_runs() -> None:
    result = celery("schedule", "list", "--json")
    assert result.returncode == 0, result.stderr
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    cleanup = rows["daily_cleanup"]
    assert cleanup["job"] == "tasks.daily_cleanup_job.DailyCleanupJob"
    assert cleanup["schedule"] == 'At 02:00 AM (cron "0 2 * * *")'
    assert cleanup["timezone"] == "Europe/Berlin"
    assert len(cleanup["next_runs"]) == 3
    assert all(" 02:00:00 CE" in run for run in cleanup["next_runs"])  # CET or CEST, always 02:00 local
    assert cleanup["enabled"] is True
    assert rows["weekly_report"]["schedule"] == 'At 09:00 AM, only on Monday (cron "0 9 * * 1")'

    text = celery("schedule", "list").stdout
    assert (
        "daily_cleanup  tasks.daily_cleanup_job.DailyCleanupJob  — Delete completed reports older than 90 days" in text
    )
    assert '  schedule   At 02:00 AM (cron "0 2 * * *"), time zone Europe/Berlin' in text
