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
import time
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

    def dead_row(self, job_id: str) -> str:
        """The Dead page's row of ``job_id`` (its HTML), or "" while Flower does not answer."""
        request = urllib.request.Request(f"{self.url}/dead")
        request.add_header("Authorization", "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode())
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                page = response.read().decode()
        except OSError:
            return ""
        start = page.find(job_id)
        return page[start : page.find("</tr>", start)] if start >= 0 else ""

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
            # The Received column is inside the card, not cut off by it (the long job name wraps)
            card = page.locator(".tasks-table-card").bounding_box()
            received = page.locator("#tasks-table tbody tr").first.locator("td time").bounding_box()
            assert card
            assert received
            assert received["x"] + received["width"] <= card["x"] + card["width"]
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
            expect(page.locator("#queue-low_priority .latency")).to_have_text(re.compile(r"^(\d+s|\d+m\d\ds)$"))
            clear_box = page.locator("#queue-low_priority input[name=confirm]")
            expect(clear_box).to_have_attribute("placeholder", "low_priority")
            assert clear_box.evaluate(_PLACEHOLDER_FITS), "the clear box cuts its placeholder off"
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
            waiting_row = page.locator(f"#waiting-{waiting_id}")
            expect(waiting_row.locator(".why")).to_have_text(
                "sent with set(wait=…) or set(wait_until=…): goes to its queue when due"
            )
            expect(waiting_row.get_by_role("link", name=waiting_id)).to_have_count(0)  # Flower has no page for it yet
            search_box = page.get_by_label("search").bounding_box()
            assert search_box
            assert search_box["width"] >= 250, search_box
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
            expect(page.locator(f"#waiting-{retry_id} .attempt")).to_have_text("2 of 3")
            page.get_by_label(f"select {retry_id}").check()
            page.get_by_role("button", name="Kill (to Dead)").click()
            expect(page.locator("#waiting-notice")).to_contain_text("Moved to the dead set: 1 job(s)")
            page.get_by_role("link", name="Dead", exact=True).click()
            dead_row = page.locator(f"#dead-{retry_id}")
            expect(dead_row).to_contain_text("ValueError: report 12 failed")
            assert dead_row.locator("td.when").evaluate(_TEXT_LINES) == 1, "the time of death wraps"
            _dead_probe(stack, "tasks.report_generation_job.ReportGenerationJob", "probe-backtrace", _LONG_BACKTRACE)
            page.reload()
            probe_row = page.locator("#dead-probe-backtrace")
            probe_row.locator("summary").click()  # open its backtrace
            page.screenshot(path=ARTIFACTS / "dead.png", full_page=True)
            retry_button = probe_row.get_by_role("button", name="Retry").bounding_box()
            viewport = page.viewport_size
            assert retry_button
            assert viewport
            assert retry_button["x"] + retry_button["width"] <= viewport["width"]
            confirm = probe_row.locator(".confirm-group")
            expect(confirm.get_by_role("button")).to_have_text(["Delete"])  # the box confirms Delete, only
            expect(confirm.get_by_role("checkbox")).to_have_count(1)
            _docs_screenshot(page, "dead.jpg")

            # Metrics: the chart fills its card, with a legend, a unit and dates
            page.get_by_role("link", name="Metrics", exact=True).click()
            chart = page.locator("#throughput-chart")
            chart_box, chart_card = chart.bounding_box(), page.locator("section[aria-label=Throughput]").bounding_box()
            assert chart_box
            assert chart_card
            assert chart_box["width"] >= 0.9 * chart_card["width"], (chart_box, chart_card)
            expect(chart.locator(".legend")).to_contain_text("succeeded")
            expect(chart.locator(".legend")).to_contain_text("failed")
            expect(chart.locator(".unit")).to_have_text("jobs per 5 min")
            expect(chart.locator(".date").first).to_have_text(re.compile(r"^[A-Z][a-z]{2} \d\d$"))
            expect(page.locator("#metrics-table thead")).to_contain_text("Succeeded")
            page.screenshot(path=ARTIFACTS / "metrics.png", full_page=True)
            _docs_screenshot(page, "metrics.jpg")

            limit = _held_limit(stack)
            page.get_by_role("link", name="Busy", exact=True).click()
            expect(page.locator("#workers-table")).to_contain_text("alive")
            expect(page.get_by_role("heading")).to_contain_text(
                ["Running jobs", "Concurrency limits in use", "Workers fetching", "Celery workers"]
            )
            # The worker count says what it counts (it read "1 worker process(es)" beside a concurrency of 5)
            expect(page.locator(".page-description")).to_contain_text(
                "fetched by 1 live worker(s): one per celery worker"
            )
            limit_row = page.locator(f"[id='limit-{limit}']")
            expect(limit_row).to_contain_text("tasks.report_generation_job.ReportGenerationJob")
            expect(limit_row.locator("code")).to_have_text("77")  # the key's value, not the Redis key
            expect(limit_row.locator(".running")).to_have_text("1 of 1")
            expect(limit_row.locator(".blocked")).to_contain_text("2 waiting")
            expect(limit_row.locator(".blocked")).to_contain_text("blocked-probe-1")
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

            # Batches: the service's enqueue_in_batches, run as a user would; its page once it finished
            batch_id = _enqueue_in_batches(stack)
            stack.service.wait_for("Notify 2500 users: 3 of 3 job(s) done, 0 failed", timeout_s=60)
            page.get_by_role("link", name="Batches", exact=True).click()
            row = page.locator(f"[id='batch-{batch_id}']")
            expect(row).to_contain_text("Notify 2500 users")
            expect(row.locator(".counts")).to_have_text("3 of 3 ended: 3 succeeded, 0 discarded, 0 dead")
            expect(row.locator(".state")).to_have_text("finished")
            row.get_by_role("link", name="Notify 2500 users").click()
            expect(page.locator("#batch-counts .counts")).to_contain_text(
                "3 in all: 0 pending (0 retrying), 3 succeeded"
            )
            expect(page.locator("#batch-callbacks")).to_contain_text("finish: sent ")
            expect(page.locator("#jobs-succeeded")).to_have_text("succeeded (3)")
            page.screenshot(path=ARTIFACTS / "batch.png", full_page=True)
            _docs_screenshot(page, "batch.jpg")
        finally:
            browser.close()

    stack.wait_succeeded("tasks.daily_cleanup_job.DailyCleanupJob", enqueued_id.group(1))
    assert re.search(r"schedule: admin enqueued daily_cleanup now \(job [0-9a-f-]+\)", stack.service.output)


def _enqueue_in_batches(stack: Stack) -> str:
    """The reference service's ``enqueue_in_batches`` for 2,500 users, from the checkout; the batch's id."""
    import subprocess
    import sys

    code = (
        "from app.celery import app\n"
        "from tasks.user_notification_job import enqueue_in_batches\n"
        "app.set_current()\n"
        "print(enqueue_in_batches(range(1, 2501), of=1000).id)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**os.environ, **stack.env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1]


def quickstart_blocks() -> list[tuple[str, str]]:
    """The README's first hour: its fenced blocks in order, as (language, text)."""
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## The first hour") : readme.index("\n## ", readme.index("## The first hour") + 1)]
    return [(lang, text) for lang, text in re.findall(r"^```(\w*)\n(.*?)^```$", section, re.MULTILINE | re.DOTALL)]


def run_readme_command(stack: Stack, command: str) -> str:
    """One README command, through a shell, from the checkout, as the user types it."""
    import subprocess

    result = subprocess.run(
        ["bash", "-c", command], cwd=ROOT, env={**os.environ, **stack.env}, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, f"{command}: {result.stdout}{result.stderr}"
    return result.stdout + result.stderr


def test_the_readme_first_hour_write_fail_fix_retry_without_a_restart(stack: Stack, tmp_path: Path) -> None:
    if not Path(CHROMIUM).exists():
        missing_service(f"no Chromium at {CHROMIUM} (apt-get install -y chromium)")
    from playwright.sync_api import expect, sync_playwright

    blocks = quickstart_blocks()
    commands = [text.strip() for lang, text in blocks if lang == "bash"]
    job_file, fix = [text for lang, text in blocks if lang == "python"]
    [prompts] = [text for lang, text in blocks if lang == "" and "[1/6]" in text]
    assert commands[0] == "make run"  # what the stack runs
    assert len(commands) == 5, commands
    source, test_file = ROOT / "tasks" / "fetch_feed_job.py", ROOT / "tests" / "test_fetch_feed_job.py"
    job = "tasks.fetch_feed_job.FetchFeedJob"
    try:
        # 2. Write a job: the generator, then the README's failing version of it, saved while make run runs
        run_readme_command(stack, commands[1])
        assert source.exists()
        assert test_file.exists()
        start = len(stack.service.lines)
        source.write_text(job_file)
        stack.service.wait_for("ready.", timeout_s=60, since=start)

        # 3. It runs three times, a second apart, and dies
        enqueued = run_readme_command(stack, commands[2])
        match = re.search(r"Job ID: ([0-9a-f-]+)", enqueued)
        assert match, enqueued
        job_id = match.group(1)
        deadline = time.monotonic() + 60
        while job_id not in (dead := run_readme_command(stack, commands[3])):
            assert time.monotonic() < deadline, f"{job_id} did not die: {dead}"
            time.sleep(0.5)  # the dead set is read through the CLI, as the user does
        assert stack.service.output.count(f"{job}[{job_id}] received") == 3

        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
            try:
                page = browser.new_context(http_credentials={"username": USER, "password": PASSWORD}).new_page()
                page.goto(f"{stack.url}/dead")
                row = page.locator(f"#dead-{job_id}")
                expect(row).to_contain_text("FeedUnavailable: feed 7 did not answer")

                # 4. Fixed and saved: the worker and Flower reload, and Retry on the Dead page runs it again
                start = len(stack.service.lines)
                text = source.read_text()
                source.write_text(text[: text.index(fix.splitlines()[0])] + fix)
                stack.service.wait_for("ready.", timeout_s=60, since=start)
                deadline = time.monotonic() + 60
                while True:
                    page.goto(f"{stack.url}/dead")
                    if row.get_by_role("button", name="Retry").count() == 1:
                        break
                    assert time.monotonic() < deadline, f"the Dead page cannot retry it: {row.inner_text()}"
                    time.sleep(0.5)  # Flower restarting, as a user reloads the page
                row.get_by_role("button", name="Retry").click()
                expect(page.locator("#dead-notice")).to_contain_text(job_id)
                stack.wait_succeeded(job, job_id)
                page.goto(f"{stack.url}/tasks")
                expect(page.locator("#tasks-table")).to_contain_text(job_id, timeout=20_000)
                page.screenshot(path=ARTIFACTS / "first-hour.png", full_page=True)
            finally:
                browser.close()
        assert job_id not in run_readme_command(stack, commands[3])

        # 5. A new service, rendered beside the checkout (here: into tmp_path), without the job tried out here
        command = commands[4]
        assert command.endswith(" -o ..")
        run_readme_command(stack, f"{command.removesuffix(' -o ..')} -o {tmp_path} --no-input")
        [rendered] = tmp_path.iterdir()
        assert (rendered / "tasks" / "report_generation_job.py").exists()
        assert not (rendered / "tasks" / "fetch_feed_job.py").exists()
        assert prompts.splitlines()[0].strip().startswith("[1/6] Service name (Acme Jobs):")
    finally:
        source.unlink(missing_ok=True)
        test_file.unlink(missing_ok=True)


PROBE_JOB = """from conveyor import Job


class ReloadProbeJob(Job):
    def perform(self, n: int) -> int:
        return n * 2
"""


def test_the_flower_address_and_login_are_said_again_last_once_the_worker_and_flower_are_up(stack: Stack) -> None:
    stack.service.wait_for("conveyor: ready: Flower at", timeout_s=60)
    lines = stack.service.lines
    [ready] = [i for i, line in enumerate(lines) if "conveyor: ready: Flower at" in line]
    assert f"{stack.url}/ (login {USER} / {PASSWORD}); Ctrl-C stops everything" in lines[ready]
    worker_up = next(i for i, line in enumerate(lines) if "worker.1" in line and line.rstrip().endswith(" ready."))
    flower_up = next(i for i, line in enumerate(lines) if "flower.1" in line and "Visit me at" in line)
    assert ready > max(worker_up, flower_up)


def test_the_worker_restarts_when_tasks_change_and_runs_a_job_added_meanwhile(stack: Stack) -> None:
    probe = ROOT / "tasks" / "reload_probe_job.py"
    job = "tasks.reload_probe_job.ReloadProbeJob"
    start = len(stack.service.lines)
    try:
        probe.write_text(PROBE_JOB)  # as `celery -A app jobs new ReloadProbe` would, while make run runs
        stack.service.wait_for("ready.", timeout_s=60, since=start)
        stack.wait_succeeded(job, stack.enqueue(job, "21"))
        # And Flower, restarted with it, can retry a dead job of the new class from its Dead page (before,
        # it said the job was not registered until make run was restarted)
        _dead_probe(stack, job)
        deadline = time.monotonic() + 60
        while "Retry" not in (row := stack.dead_row("probe-dead-1")) or "Cannot be retried" in row:
            assert time.monotonic() < deadline, f"the Dead page still cannot retry the new job: {row}"
            time.sleep(0.5)  # Flower restarting: polled over HTTP, as a user reloads the page
    finally:
        probe.unlink(missing_ok=True)
    after = len(stack.service.lines)
    stack.service.wait_for("ready.", timeout_s=60, since=after)  # restarted again without it
    assert "worker.1 stopped" not in stack.service.output, "only the worker process inside restarted"


def test_a_worker_that_stops_on_its_own_says_so_and_starts_again_when_the_file_is_fixed(stack: Stack) -> None:
    broken = ROOT / "tasks" / "broken_probe_job.py"
    start = len(stack.service.lines)
    try:
        # When a job file that cannot be imported is saved while make run runs
        broken.write_text("from conveyor import Job\n\n\nclass BrokenProbeJob(Job):\n    queue_as = 5\n")
        # Then the worker stops, and one line after its traceback says what to do
        stack.service.wait_for("conveyor: worker stopped (exit code 1): fix what its last lines say", 60, start)
    finally:
        broken.unlink(missing_ok=True)
    # And once the file is fixed (here: removed), it starts again; beat and Flower never stopped
    after = len(stack.service.lines)
    stack.service.wait_for("ready.", timeout_s=60, since=after)
    assert "beat.1 stopped" not in stack.service.output
    assert "flower.1 stopped" not in stack.service.output


def _dead_probe(stack: Stack, job: str, job_id: str = "probe-dead-1", backtrace: str | None = None) -> None:
    """A dead job of class ``job``, as the worker files one that failed for good."""
    from conveyor.broker.dead.dead_set import DeadSet
    from conveyor.records import dead_record

    body = base64.b64encode(json.dumps([[21], {}, {}]).encode()).decode()
    message = {"headers": {"task": job, "id": job_id}, "content_type": "application/json", "body": body}
    extra = {"backtrace": backtrace} if backtrace else {}
    record = dead_record(job_id, "RuntimeError: told to fail", task=job, queue="default", message=message, **extra)
    DeadSet(redis.Redis.from_url(stack.env["REDIS_URL"])).add(record)


#: A backtrace as wide as real ones get (a long path, a long repr): opened, it must not push the actions away.
_LONG_BACKTRACE = "Traceback (most recent call last):\n" + "".join(
    f'  File "/srv/app/.venv/lib/python3.11/site-packages/some/deeply/nested/package/module_{n}.py", line {n}, '
    f"in a_function_with_a_rather_long_name_{n}\n    return call(argument={'x' * 160!r})\n"
    for n in range(12)
)

#: JavaScript: the number of lines an element's text takes on screen.
_TEXT_LINES = """cell => {
  const range = document.createRange(); range.selectNodeContents(cell);
  return new Set(Array.from(range.getClientRects()).map(rect => Math.round(rect.top))).size;
}"""

#: JavaScript: whether an input shows its whole placeholder (its text width, in its font, fits inside).
_PLACEHOLDER_FITS = """input => {
  const style = getComputedStyle(input), context = document.createElement("canvas").getContext("2d");
  context.font = style.font;
  const room = input.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
  return context.measureText(input.placeholder).width <= room;
}"""


def _held_limit(stack: Stack) -> str:
    """ReportGenerationJob's limit for report 77 held for 10 minutes, two jobs blocked behind it; its key."""
    from conveyor.keys import LIMITS_KEY, LIMITS_TO_KEY

    client = redis.Redis.from_url(stack.env["REDIS_URL"])
    key = "conveyor:limit:tasks.report_generation_job.ReportGenerationJob:77"
    client.sadd(LIMITS_KEY, key)
    client.hset(LIMITS_TO_KEY, key, 1)
    client.zadd(key, {"holding-probe": time.time() + 600})
    for n in (1, 2):  # as claim.lua sets a job aside: "<length of its list> <its list><its message>"
        message = json.dumps({"headers": {"id": f"blocked-probe-{n}", "task": "x"}, "body": ""})
        client.lpush(key + ":blocked", f"{len('low_priority')} low_priority{message}")
    return key


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
        job._retry_attempt = (2, 3)  # and which attempt of its retry_on it waits for
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


def test_an_invalid_schedule_stops_beat_alone_says_what_to_fix_and_beat_starts_once_it_is_fixed(
    tmp_path: Path,
) -> None:
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
    try:
        # Given make run started with a schedule beat refuses: beat says why, and what restarts it
        service.wait_for(
            f"conveyor: beat stopped (exit code 1): fix what its last lines say; it starts again when {schedule} "
            "or tasks changes",
            timeout_s=90,
        )
        assert "hour 25" in service.output, service.output[-3000:]
        # And the worker and Flower run on
        service.wait_for("ready.", timeout_s=90)
        service.wait_listening(int(env["FLOWER_PORT"]), timeout_s=90)
        assert service.process.poll() is None
        # When the file is fixed, beat starts and syncs it, with nothing restarted by hand
        start = len(service.lines)
        schedule.write_text("nightly:\n  cron: '0 2 * * *'\n  job: tasks.daily_cleanup_job.DailyCleanupJob\n")
        service.wait_for("synced", timeout_s=60, since=start)
    finally:
        service.send(signal.SIGINT)
        os.killpg(service.process.pid, signal.SIGINT)
        service.wait(timeout_s=60)


def test_ctrl_c_stops_every_process_it_started(stack: Stack) -> None:
    import psutil

    processes = [psutil.Process(stack.service.process.pid), *descendants(stack.service.process.pid)]
    commands = " ".join(" ".join(p.cmdline()) for p in processes)
    for program in ("honcho", "worker", "beat", "flower"):
        assert program in commands

    stack.service.send(signal.SIGINT)  # to make; the devserver forwards it once to honcho
    os.killpg(stack.service.process.pid, signal.SIGINT)  # a terminal sends it to the whole group

    assert stack.service.wait(timeout_s=60) in (0, -2)  # make ends by the SIGINT it got, or with its child's 0
    assert "Error 130" not in stack.service.output  # a stop the user asked for is not an error
    _, alive = psutil.wait_procs(processes, timeout=30)
    assert alive == [], [p.cmdline() for p in alive]
    assert "worker: Warm shutdown" in stack.service.output
