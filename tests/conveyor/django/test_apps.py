"""``conveyor.django``'s app config: each app's jobs and tasks modules imported; a broken one stops the start."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conveyor.django.conftest import PROJECT, project_env

pytestmark = pytest.mark.processes


def test_the_apps_jobs_and_tasks_are_registered_on_the_projects_celery_app(django_setup: Any) -> None:
    names = set(django_setup.tasks)
    assert {
        "reports.jobs.ReportGenerationJob",
        "reports.jobs.LabelJob",
        "reports.tasks.add",  # each @task function is a job of its own, named by its path
        "reports.tasks.flaky",
    } <= names
    assert "conveyor.django.backend.DjangoTaskJob" not in names  # the base class is not a task


def test_the_jobs_cli_runs_with_the_projects_app_and_no_flags() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "celery", "-A", "proj", "jobs", "enqueue", "ReportGenerationJb", "1"],
        cwd=PROJECT,
        env=project_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "did you mean 'ReportGenerationJob'?" in result.stderr


def test_a_jobs_module_that_fails_to_import_stops_django_naming_it(tmp_path: Path) -> None:
    broken = tmp_path / "brokenapp"
    broken.mkdir()
    (broken / "__init__.py").write_text("")
    (broken / "jobs.py").write_text("from conveyor import Job\n\n\nclass BadJob(Job):\n    queue_as = 5\n")
    (tmp_path / "broken_settings.py").write_text(
        "from proj.settings import *  # noqa: F403\n\nINSTALLED_APPS = [*INSTALLED_APPS, 'brokenapp']  # noqa: F405\n"
    )
    env = {**project_env(), "DJANGO_SETTINGS_MODULE": "broken_settings"}
    env["PYTHONPATH"] = f"{tmp_path}:{env['PYTHONPATH']}"
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=PROJECT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("django.core.exceptions.ImproperlyConfigured: conveyor: brokenapp.jobs failed to import")
    assert "a worker must not run without its jobs" in last
