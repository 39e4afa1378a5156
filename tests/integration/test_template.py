"""The cookiecutter template (``template/``) renders the reference service, and a new service that works.

No drift by construction: the template's files that need no variables are symlinks to
the reference service's files; the few that do (settings, models, schedule) are checked
here by rendering with the reference service's answers and comparing byte for byte.
A render with a random name must not mention the reference service, and must pass its
own ``make test`` with conveyor installed from this checkout.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import signal
import string
import subprocess
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
import redis
from cookiecutter.main import cookiecutter

from conveyor.devserver import free_port
from tests.conftest import TEST_REDIS_URL, require_redis
from tests.integration.services import ROOT, Service

pytestmark = [pytest.mark.processes, pytest.mark.slow]

TEMPLATE = ROOT / "template"
REFERENCE_ANSWERS = {"service_name": "Conveyor Reference", "database": "sqlite", "example_jobs": "yes"}
# Files only a rendered service has in this form: the reference's are the pack's (pyproject, Makefile,
# README, CI) or its test set-up serves the pack's tests too (conftest).
TEMPLATE_ONLY = {"pyproject.toml", "Makefile", "README.md", ".ci/run", "tests/conftest.py"}
# The reference service's own files: all of them must be in a render with the reference answers.
REFERENCE_SERVICE = ["app", "tasks", "config", "Procfile", "flowerconfig.py", "schedule.yaml", ".gitignore"]
REFERENCE_NAMES = re.compile(r"conveyor[ _-]reference|reference service|design\.md|the seed", re.IGNORECASE)
EXAMPLE_NAMES = re.compile(
    r"(ReportGeneration|DataImport|UserNotification|Notification|DataProcessing|DailyCleanup|WeeklyReport)Job"
    r"|UserMailer|ReportMailer|ImportedRecord|\bReport\b"
)
RENDER_REDIS_URL = urlunsplit(urlsplit(TEST_REDIS_URL)._replace(path="/9"))


def render(output_dir: Path, **answers: str) -> Path:
    return Path(cookiecutter(str(TEMPLATE), no_input=True, output_dir=str(output_dir), extra_context=answers))


def files_under(root: Path) -> set[str]:
    return {
        path.relative_to(root).as_posix()
        for path in root.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and ".venv" not in path.parts
    }


def reference_path(rendered: str) -> str:
    """Where the reference keeps a rendered file: its service tests are in tests/service/, beside the pack's."""
    if rendered.startswith("tests/test_"):
        return "tests/service/" + rendered.removeprefix("tests/")
    return rendered


def random_name() -> str:
    return "Svc " + "".join(random.choices(string.ascii_lowercase, k=8)).capitalize()


def make(service: Path, *targets: str, env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["make", "--no-print-directory", *targets],
        cwd=service,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture(scope="module")
def make_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Environment for the rendered services' make: one shared venv, conveyor from this checkout."""
    require_redis()
    redis.Redis.from_url(RENDER_REDIS_URL).flushdb()
    env = {key: value for key, value in os.environ.items() if not key.startswith(("PYTEST_", "VIRTUAL_ENV"))}
    env.update(
        VENV=str(tmp_path_factory.mktemp("rendered") / "venv"),
        CONVEYOR=str(ROOT),
        REDIS_URL=RENDER_REDIS_URL,
        # The rendered service must not find this checkout's modules instead of its own.
        PYTHONPATH="",
    )
    return env


def test_rendering_with_the_reference_answers_reproduces_the_reference_service(tmp_path: Path) -> None:
    rendered = render(tmp_path, **REFERENCE_ANSWERS)

    assert rendered.name == "conveyor-reference"
    rendered_files = files_under(rendered)
    for name in sorted(rendered_files - TEMPLATE_ONLY):
        reference = ROOT / reference_path(name)
        assert (rendered / name).read_bytes() == reference.read_bytes(), f"{name} differs from the reference's"
    reference_files = set()
    for top in REFERENCE_SERVICE:
        path = ROOT / top
        reference_files |= {f"{top}/{name}" for name in tracked(top)} if path.is_dir() else {top}
    assert reference_files - rendered_files == set(), "reference service files the template does not render"
    assert rendered_files >= TEMPLATE_ONLY
    assert os.access(rendered / ".ci" / "run", os.X_OK)


def test_a_random_name_leaks_no_reference_name_and_without_examples_leaves_no_example(tmp_path: Path) -> None:
    name = random_name()
    rendered = render(tmp_path, service_name=name, database="postgresql", example_jobs="no")
    slug = name.lower().replace(" ", "-")

    assert rendered.name == slug
    for file in files_under(rendered):
        text = (rendered / file).read_text()
        assert not REFERENCE_NAMES.search(text), (
            f"{file} mentions the reference service: {REFERENCE_NAMES.search(text)}"
        )
        assert not EXAMPLE_NAMES.search(text), f"{file} mentions an example: {EXAMPLE_NAMES.search(text)}"
    assert f'name = "{slug}"' in (rendered / "pyproject.toml").read_text()
    readme = (rendered / "README.md").read_text()
    assert readme.startswith(f"# {name}\n")
    assert "](https://github.com/)" not in readme  # no placeholder link
    assert "The tests use Redis database 15 of that server and flush it" in readme
    settings = (rendered / "config" / "settings.py").read_text()
    assert f'"{name} <noreply@localhost>"' in settings
    assert f'"postgresql+psycopg://postgres@127.0.0.1:5432/{slug.replace("-", "_")}"' in settings
    assert sorted(p.name for p in (rendered / "tasks").iterdir()) == ["__init__.py"]
    assert not (rendered / "app" / "templates").exists()


def tracked(folder: str) -> list[str]:
    """The files git tracks under ``folder`` of the checkout, relative to it."""
    listed = subprocess.run(["git", "ls-files", folder], cwd=ROOT, capture_output=True, text=True, check=True)
    return sorted(line.removeprefix(folder + "/") for line in listed.stdout.splitlines())


def test_the_template_ships_the_files_git_tracks_in_the_folders_it_links(tmp_path: Path) -> None:
    shipped = json.loads((TEMPLATE / "cookiecutter.json").read_text())["_shipped"]
    assert {folder: sorted(names) for folder, names in shipped.items()} == {
        folder: tracked(folder) for folder in ("tasks", "app/templates")
    }, "a file was added to or removed from tasks/ or app/templates/: list it in template/cookiecutter.json _shipped"


def test_a_job_left_untracked_in_the_checkout_is_not_copied_into_a_new_service(tmp_path: Path) -> None:
    # Given a job tried out in the checkout (`jobs new`), never committed, and a mail template beside it
    untracked = [ROOT / "tasks" / "zz_tried_out_job.py", ROOT / "app" / "templates" / "zz_tried_out.txt"]
    for path in untracked:
        assert not path.exists()
        path.write_text('"""Tried out, not committed."""\n')
    try:
        # When a service is rendered
        rendered = render(tmp_path, **REFERENCE_ANSWERS)
    finally:
        for path in untracked:
            path.unlink()
    # Then it holds the template's files only
    assert not (rendered / "tasks" / "zz_tried_out_job.py").exists()
    assert not (rendered / "app" / "templates" / "zz_tried_out.txt").exists()
    assert sorted(p.name for p in (rendered / "tasks").iterdir()) == sorted(tracked("tasks"))


def test_an_invalid_service_name_is_refused_naming_the_rule(tmp_path: Path) -> None:
    from cookiecutter.exceptions import FailedHookException

    with pytest.raises(FailedHookException):
        render(tmp_path, service_name='Bad "name"')
    assert list(tmp_path.iterdir()) == []  # nothing half-rendered is left


def test_a_rendered_service_passes_its_own_make_test_and_make_run_works(
    tmp_path: Path, make_env: dict[str, str]
) -> None:
    name = random_name()
    service = render(tmp_path, service_name=name)

    result = make(service, "test", env=make_env)

    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert re.search(r"\b21 passed\b", result.stdout), result.stdout[-2000:]  # the shipped tests, none skipped
    assert "All checks passed!" in result.stdout  # ruff
    assert "Success: no issues found" in result.stdout  # mypy --strict

    with running(service, make_env) as stack:
        celery = f"{make_env['VENV']}/bin/celery"
        cli = Service(
            [celery, "-A", "app", "jobs", "enqueue", "tasks.daily_cleanup_job.DailyCleanupJob"], stack.env, service
        )
        assert cli.wait() == 0, cli.output
        job_id = re.search(r"Job ID: ([0-9a-f-]+)", cli.output).group(1)  # type: ignore[union-attr]
        stack.service.wait_for(f"Task tasks.daily_cleanup_job.DailyCleanupJob[{job_id}] succeeded", timeout_s=60)


def test_a_postgresql_service_without_examples_passes_its_tests_and_generated_jobs_work(
    tmp_path: Path, make_env: dict[str, str]
) -> None:
    name = random_name()
    service = render(tmp_path, service_name=name, database="postgresql", example_jobs="no")
    celery = f"{make_env['VENV']}/bin/celery"
    installed = make(service, "install", env=make_env)
    assert installed.returncode == 0, installed.stderr[-4000:]

    generated = subprocess.run(
        [celery, "-A", "app", "jobs", "new", "SendInvoice", "--queue", "default"],
        cwd=service,
        env=make_env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert generated.returncode == 0, generated.stderr
    try:
        result = make(service, "test", env=make_env)
    finally:
        drop_database(f"{name.lower().replace(' ', '_')}_test")

    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert re.search(r"\b6 passed\b", result.stdout), result.stdout[-2000:]  # test_app (4) + the generated (2)
    assert "skipped" not in result.stdout


def test_a_django_service_passes_its_own_make_test_and_make_run_completes_a_report_asked_for_over_http(
    tmp_path: Path, make_env: dict[str, str]
) -> None:
    service = render(tmp_path, service_name=random_name(), framework="django")
    assert (service / "manage.py").is_file()
    assert not (service / "tasks").exists()
    assert not (service / "_django").exists()

    result = make(service, "test", env=make_env)

    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert re.search(r"\b8 passed\b", result.stdout), result.stdout[-2000:]
    assert re.search(r"django: version: [56]\.", result.stdout)  # pytest-django, with its settings
    assert "All checks passed!" in result.stdout  # ruff
    assert "Success: no issues found" in result.stdout  # mypy --strict

    port = free_port()
    with running(service, {**make_env, "DJANGO_PORT": str(port)}) as stack:
        stack.service.wait_for(f"Starting development server at http://127.0.0.1:{port}/", timeout_s=60)
        # A report asked for over HTTP: created in a transaction, its job sent at the commit, run by the worker
        asked = urllib.request.urlopen(f"http://127.0.0.1:{port}/reports/", data=b"title=Quarterly", timeout=10)
        created = json.loads(asked.read())
        stack.service.wait_for(f"ReportGenerationJob[{created['job_id']}] succeeded", timeout_s=60)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/reports/{created['id']}/", timeout=10) as shown:
            assert json.loads(shown.read())["status"] == "completed"


def test_a_django_render_without_examples_keeps_the_model_and_drops_the_jobs(tmp_path: Path) -> None:
    service = render(tmp_path, service_name=random_name(), framework="django", example_jobs="no")
    kept = files_under(service)
    assert {"reports/models.py", "reports/migrations/0001_initial.py", "app/settings.py", "manage.py"} <= kept
    assert not {"reports/jobs.py", "reports/tasks.py", "reports/views.py", "tests/test_reports.py"} & kept
    assert "reports." not in (service / "schedule.yaml").read_text().split("{}")[-1]  # examples commented out only
    assert 'include("reports.urls")' not in (service / "app" / "urls.py").read_text()


def drop_database(name: str) -> None:
    from sqlalchemy import create_engine, text

    server = create_engine("postgresql+psycopg://postgres@127.0.0.1:5432/postgres", isolation_level="AUTOCOMMIT")
    try:
        with server.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
    finally:
        server.dispose()


class _Stack:
    def __init__(self, service: Service, env: dict[str, str]) -> None:
        self.service, self.env = service, env


class running:  # noqa: N801 - used as a context manager, like contextlib's
    """``make run`` of a rendered service, stopped with Ctrl-C (SIGINT to its process group)."""

    def __init__(self, service_dir: Path, make_env: dict[str, str]) -> None:
        self.env = {
            **make_env,
            "FLOWER_PORT": str(free_port()),
            "FLOWER_BASIC_AUTH": "admin:template-test",
            "DATABASE_URL": f"sqlite:///{service_dir}/var/app.db",
        }
        self.service_dir = service_dir

    def __enter__(self) -> _Stack:
        self.service = Service(["make", "--no-print-directory", "run"], env=self.env, cwd=self.service_dir)
        for line in ("Flower at http://127.0.0.1:", "Visit me at", "ready.", "synced"):
            self.service.wait_for(line, timeout_s=90)
        return _Stack(self.service, self.env)

    def __exit__(self, *exc: Any) -> None:
        if self.service.process.poll() is None:
            os.killpg(self.service.process.pid, signal.SIGINT)
        try:
            self.service.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.service.process.pid, signal.SIGKILL)
            self.service.process.wait()
        shutil.rmtree(self.service_dir / "var", ignore_errors=True)
