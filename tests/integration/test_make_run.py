"""`make run` as a user runs it, and the dashboard in a real browser (Playwright driving Chromium).

The module starts `make run` once; the browser test uses it; the last test presses Ctrl-C
(SIGINT to the process group, as a terminal does) and checks that nothing is left running.
Screenshots are kept in var/artifacts/.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import signal
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
import redis

from conveyor.devserver import free_port
from tests.conftest import TEST_REDIS_URL, missing_service, require_redis
from tests.integration.services import ROOT, Service, descendants

pytestmark = [pytest.mark.redis, pytest.mark.processes, pytest.mark.slow]
RUN_REDIS_URL = urlunsplit(urlsplit(TEST_REDIS_URL)._replace(path="/10"))
USER, PASSWORD = "admin", "browser-test"
ARTIFACTS = ROOT / "var" / "artifacts"
CHROMIUM = "/usr/bin/chromium"


class Stack:
    def __init__(self, service: Service, env: dict[str, str], url: str) -> None:
        self.service, self.env, self.url = service, env, url

    def enqueue(self, job: str, *args: str) -> str:
        cli = Service.celery("jobs", "enqueue", job, *args, env=self.env)
        assert cli.wait() == 0, cli.output
        match = re.search(r"Job ID: ([0-9a-f-]+)", cli.output)
        assert match, cli.output
        return match.group(1)

    def wait_succeeded(self, job: str, job_id: str) -> None:
        self.service.wait_for(f"Task {job}[{job_id}] succeeded", timeout_s=60)

    def flower_task(self, job_id: str) -> dict[str, Any]:
        request = urllib.request.Request(f"{self.url}/api/task/info/{job_id}")
        request.add_header("Authorization", "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode())
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    require_redis()
    client = redis.Redis.from_url(RUN_REDIS_URL)
    client.flushdb()
    port = free_port()
    env = {
        "REDIS_URL": RUN_REDIS_URL,
        "FLOWER_PORT": str(port),
        "FLOWER_BASIC_AUTH": f"{USER}:{PASSWORD}",
        "DATABASE_URL": f"sqlite:///{tmp_path_factory.mktemp('run')}/app.db",
    }
    service = Service(["make", "--no-print-directory", "run"], env={**os.environ, **env})
    service.wait_for("Visit me at", timeout_s=90)
    service.wait_for("ready.", timeout_s=90)
    service.wait_for("synced", timeout_s=90)
    yield Stack(service, env, f"http://127.0.0.1:{port}")
    if service.process.poll() is None:
        # The devserver runs honcho in a session of its own: killing make's group would leave it and its
        # worker consuming this database in later runs. Everything make started goes.
        family = descendants(service.process.pid)
        os.killpg(service.process.pid, signal.SIGKILL)
        for process in family:
            with contextlib.suppress(Exception):
                process.kill()
    client.flushdb()


def test_make_run_prints_flowers_url_and_login(stack: Stack) -> None:
    assert f"conveyor: Flower at http://127.0.0.1:{stack.url.rsplit(':', 1)[1]}/" in stack.service.output
    assert f"conveyor: Flower login: {USER} / {PASSWORD}" in stack.service.output
    for name in ("worker.1", "beat.1", "flower.1"):
        assert f"{name} started" in stack.service.output


def test_a_job_enqueued_from_the_cli_succeeds_and_flower_shows_it(stack: Stack) -> None:
    job = "tasks.report_generation_job.ReportGenerationJob"
    job_id = stack.enqueue(job, "42")
    stack.wait_succeeded(job, job_id)

    info = stack.flower_task(job_id)  # Flower follows the worker's task events
    assert info["name"] == job
    assert info["uuid"] == job_id
    assert info["args"] == "(42,)"


def test_the_dashboard_in_a_real_browser(stack: Stack) -> None:
    if not Path(CHROMIUM).exists():
        missing_service(f"no Chromium at {CHROMIUM} (apt-get install -y chromium)")
    from playwright.sync_api import expect, sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        try:
            page = browser.new_context(http_credentials={"username": USER, "password": PASSWORD}).new_page()

            page.goto(f"{stack.url}/workers")
            expect(page.locator("#workers-table")).to_contain_text("celery@", timeout=20_000)
            expect(page.locator("#workers-table")).to_contain_text("Online")
            page.screenshot(path=ARTIFACTS / "workers.png", full_page=True)

            job = "tasks.report_generation_job.ReportGenerationJob"
            job_id = stack.enqueue(job, "7")
            stack.wait_succeeded(job, job_id)
            page.goto(f"{stack.url}/tasks")
            expect(page.locator("#tasks-table")).to_contain_text(job_id, timeout=20_000)
            expect(page.locator("#tasks-table")).to_contain_text(job)
            expect(page.locator("#tasks-table")).to_contain_text("(7,)")  # the job's arguments
            page.screenshot(path=ARTIFACTS / "tasks.png", full_page=True)

            page.get_by_role("link", name="Schedule", exact=True).click()
            expect(page).to_have_url(f"{stack.url}/schedule")
            expect(page.locator("#entry-daily_cleanup")).to_contain_text("At 02:00 AM")
            page.screenshot(path=ARTIFACTS / "schedule.png", full_page=True)
            page.locator("#entry-daily_cleanup").get_by_role("button", name="Enqueue now").click()
            notice = page.locator("#schedule-notice")
            expect(notice).to_contain_text("Enqueued daily_cleanup (job ")
            enqueued_id = re.search(r"job ([0-9a-f-]+)", notice.inner_text())
            assert enqueued_id
            page.screenshot(path=ARTIFACTS / "schedule-enqueued.png", full_page=True)

            # Pause a queue: a job sent to it waits; resume: it runs.
            page.get_by_role("link", name="Queues", exact=True).click()
            expect(page).to_have_url(f"{stack.url}/queues")
            page.locator("#queue-low_priority").get_by_role("button", name="Pause").click()
            expect(page.locator("#queues-notice")).to_contain_text("Paused low_priority")
            held_id = stack.enqueue(job, "8")
            page.reload()
            expect(page.locator("#queue-low_priority .waiting")).to_have_text("1")
            expect(page.locator("#queue-low_priority .state")).to_contain_text("paused")
            page.screenshot(path=ARTIFACTS / "queues-paused.png", full_page=True)
            _docs_screenshot(page, "queues.jpg")
            assert f"[{held_id}] received" not in stack.service.output  # no worker took it
            page.locator("#queue-low_priority").get_by_role("button", name="Resume").click()
            expect(page.locator("#queues-notice")).to_contain_text("Resumed low_priority")
            stack.wait_succeeded(job, held_id)

            # Scheduled: search narrows the list, Run now sends the selected job, which runs.
            waiting_id = stack.enqueue(job, "10", "--wait", "600")
            stack.enqueue(job, "11", "--wait", "600")
            page.get_by_role("link", name="Scheduled", exact=True).click()
            expect(page.locator("#waiting-table tbody tr")).to_have_count(2)
            page.get_by_label("search").fill(waiting_id)
            page.get_by_role("button", name="Search").click()
            expect(page.locator("#waiting-table tbody tr")).to_have_count(1)
            page.get_by_label(f"select {waiting_id}").check()
            page.get_by_role("button", name="Run now").click()
            expect(page.locator("#waiting-notice")).to_contain_text("Sent to their queue: 1 job(s)")
            stack.wait_succeeded(job, waiting_id)

            # Retries: a job waiting for its retry is killed to the dead set.
            retry_id = _waiting_retry(stack, "ValueError: report 12 failed")
            page.get_by_role("link", name="Retries", exact=True).click()
            expect(page.locator(f"#waiting-{retry_id}")).to_contain_text("ValueError: report 12 failed")
            page.get_by_label(f"select {retry_id}").check()
            page.get_by_role("button", name="Kill (to Dead)").click()
            expect(page.locator("#waiting-notice")).to_contain_text("Moved to the dead set: 1 job(s)")
            page.get_by_role("link", name="Dead", exact=True).click()
            expect(page.locator(f"#dead-{retry_id}")).to_contain_text("ValueError: report 12 failed")

            page.get_by_role("link", name="Busy", exact=True).click()
            expect(page.locator("#workers-table")).to_contain_text("alive")
            workers_row = page.locator("#celery-workers-table tbody tr").filter(has_text="celery@")
            expect(workers_row).to_contain_text("online")
            page.screenshot(path=ARTIFACTS / "busy.png", full_page=True)
            _docs_screenshot(page, "busy.jpg")

            # Quiet the worker: it takes no new job (Sidekiq's Quiet); then it consumes again.
            quiet = workers_row.locator("form").filter(has=page.get_by_role("button", name="Quiet"))
            quiet.get_by_role("checkbox").check()
            quiet.get_by_role("button", name="Quiet").click()
            expect(page.locator("#busy-notice")).to_contain_text("it takes no new job from ")
            notice = page.locator("#busy-notice").inner_text()
            node = notice.split("Quieted ", 1)[1].split(":", 1)[0]
            queues = notice.split("it takes no new job from ", 1)[1].split(";", 1)[0].split(", ")
            assert "low_priority" in queues
            quiet_id = stack.enqueue(job, "9")
            inspect = Service.celery("inspect", "active_queues", "-d", node, env=stack.env)
            assert inspect.wait() == 0, inspect.output
            assert "low_priority" not in inspect.output, "the quiet worker consumes no queue"
            assert f"[{quiet_id}] received" not in stack.service.output, "nor took the job"
            for queue in queues:
                restore = Service.celery("control", "add_consumer", queue, "-d", node, env=stack.env)
                assert restore.wait() == 0, restore.output
            stack.wait_succeeded(job, quiet_id)
        finally:
            browser.close()

    stack.wait_succeeded("tasks.daily_cleanup_job.DailyCleanupJob", enqueued_id.group(1))
    assert re.search(r"schedule: admin enqueued daily_cleanup now \(job [0-9a-f-]+\)", stack.service.output)


PROBE_JOB = """from conveyor import Job


class ReloadProbeJob(Job):
    def perform(self, n: int) -> int:
        return n * 2
"""


def test_the_worker_restarts_when_tasks_change_and_runs_a_job_added_meanwhile(stack: Stack) -> None:
    probe = ROOT / "tasks" / "reload_probe_job.py"
    job = "tasks.reload_probe_job.ReloadProbeJob"
    start = len(stack.service.lines)
    try:
        probe.write_text(PROBE_JOB)  # as `celery -A app jobs new ReloadProbe` would, while make run runs
        stack.service.wait_for("ready.", timeout_s=60, since=start)
        stack.wait_succeeded(job, stack.enqueue(job, "21"))
    finally:
        probe.unlink(missing_ok=True)
    after = len(stack.service.lines)
    stack.service.wait_for("ready.", timeout_s=60, since=after)  # restarted again without it
    assert "worker.1 stopped" not in stack.service.output, "only the worker process inside restarted"


def _waiting_retry(stack: Stack, error: str) -> str:
    """A ReportGenerationJob waiting 10 minutes for its retry, as a worker leaves it after a failure."""
    from celery import Celery, _state

    import conveyor
    from tasks.report_generation_job import ReportGenerationJob

    app = conveyor.configure(Celery("browser-retry"), default=False, broker_url=stack.env["REDIS_URL"])
    previous = _state.get_current_app()
    app.set_current()
    try:
        job = ReportGenerationJob(12)
        job._retry_error = error  # what Execution._retry sets: the error the retry is for (the Retries page)
        job.executions = 1
        return job.enqueue(wait=600).job_id
    finally:
        previous.set_current()


def _docs_screenshot(page: Any, name: str) -> None:
    # `make screenshots` keeps small copies for the README (docs/screenshots/); the suite does not.
    target = os.environ.get("SCREENSHOTS_DIR")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=Path(target) / name, type="jpeg", quality=70)


def test_a_process_that_fails_stops_make_run_and_the_cause_is_printed_last(tmp_path: Path) -> None:
    require_redis()
    schedule = tmp_path / "schedule.yaml"
    schedule.write_text("nightly:\n  cron: '0 25 * * *'\n  job: tasks.daily_cleanup_job.DailyCleanupJob\n")
    env = {
        "REDIS_URL": urlunsplit(urlsplit(TEST_REDIS_URL)._replace(path="/11")),
        "FLOWER_PORT": str(free_port()),
        "FLOWER_BASIC_AUTH": f"{USER}:{PASSWORD}",
        "DATABASE_URL": f"sqlite:///{tmp_path}/app.db",
        "SCHEDULE_FILE": str(schedule),
    }
    service = Service(["make", "--no-print-directory", "run"], env={**os.environ, **env})
    assert service.wait(timeout_s=90) != 0
    lines = [line for line in service.output.splitlines() if line.strip() and not line.startswith("make: ***")]
    start = next(i for i, line in enumerate(lines) if line.startswith("conveyor: make run stopped: "))
    assert lines[start].startswith("conveyor: make run stopped: beat.1 exited with code 1. Its last lines:")
    summary = "\n".join(lines[start:])
    assert "hour 25" in summary, service.output[-3000:]
    assert lines[start + 1].startswith("    beat.1 | "), service.output[-3000:]
    honcho_lines = [i for i, line in enumerate(lines) if re.match(r"\d\d:\d\d:\d\d \S+\s*\| ", line)]
    assert honcho_lines, service.output[-3000:]
    assert max(honcho_lines) < start, f"the summary comes after every process's output:\n{service.output[-3000:]}"


def test_ctrl_c_stops_every_process_it_started(stack: Stack) -> None:
    import psutil

    processes = [psutil.Process(stack.service.process.pid), *descendants(stack.service.process.pid)]
    commands = " ".join(" ".join(p.cmdline()) for p in processes)
    for program in ("honcho", "worker", "beat", "flower"):
        assert program in commands

    stack.service.send(signal.SIGINT)  # to make; the devserver forwards it once to honcho
    os.killpg(stack.service.process.pid, signal.SIGINT)  # a terminal sends it to the whole group

    assert stack.service.wait(timeout_s=60) in (0, 2, -2, 130)
    _, alive = psutil.wait_procs(processes, timeout=30)
    assert alive == [], [p.cmdline() for p in alive]
    assert "worker: Warm shutdown" in stack.service.output
