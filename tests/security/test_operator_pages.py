"""Issue 25 against a real Flower and worker of the service, started as a user would, from ``/``.

A Flower login must not reach what its pages do not own: Flower's own send-task with forged
control headers leaves the scheduled set whole, Clear of a reserved key is refused, read-only
mode holds for conveyor's actions, filtered arguments stay filtered, the audit names the
login however the header is spaced, and a Flower without login answers only to its own host
names and to its own pages' posts.
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from conveyor.broker.batches import DEAD, RedisBatchStore
from conveyor.broker.dead.dead_set import DeadSet
from conveyor.keys import PAUSED_KEY, SCHEDULED_KEY
from conveyor.records import dead_record
from tests.conftest import require_redis
from tests.integration.services import ROOT, Service
from tests.security.test_flower_hardening import FLOWER_REDIS_URL, LOGIN, basic, request, start_flower

pytestmark = [pytest.mark.redis, pytest.mark.processes]

SECRET = "s3cr3t-token-123"


def wait_for(condition: object, timeout_s: float = 30) -> None:
    """Until ``condition()`` holds: each check waits on a Redis list nobody pushes to, a bounded pause."""
    client = redis.Redis.from_url(FLOWER_REDIS_URL)
    deadline = time.monotonic() + timeout_s
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        client.blpop(["conveyor-test:never"], timeout=0.2)


def form(page: str) -> str:
    """The XSRF token of a page's forms."""
    token = re.search(r'name="_xsrf" value="([^"]+)"', page)
    assert token is not None, page[-500:]
    return token.group(1)


def post(url: str, path: str, fields: dict[str, str], headers: dict[str, str]) -> tuple[int, dict[str, str], str]:
    status, response_headers, page = request(url + "/queues", headers)
    assert status == 200, page[-300:]
    token = form(page)
    cookie = response_headers["Set-Cookie"].split(";")[0]
    body = "&".join(f"{key}={value}" for key, value in {"_xsrf": token, **fields}.items()).encode()
    return request(url + path, {**headers, "Cookie": cookie}, data=body)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Service, Service, str]]:
    """The service's Flower (basic auth) and a worker of its queues, on their own database."""
    require_redis()
    client = redis.Redis.from_url(FLOWER_REDIS_URL)
    client.flushdb()
    env = {key: value for key, value in os.environ.items() if not key.startswith("FLOWER_") and key != "PYTHONPATH"}
    env.update(PYTHONPATH=str(ROOT), REDIS_URL=FLOWER_REDIS_URL)
    worker = Service(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "app",
            "worker",
            "--pool",
            "solo",
            "--without-mingle",
            "--without-gossip",
            "--loglevel",
            "INFO",
        ],
        env=env,
        cwd=Path("/"),
    )
    worker.wait_for("ready", timeout_s=60)
    flower, url = start_flower(tmp_path_factory.mktemp("flower"), FLOWER_BASIC_AUTH=LOGIN)
    flower.wait_listening(int(url.rsplit(":", 1)[1]))
    yield worker, flower, url
    flower.stop()
    worker.stop()
    client.flushdb()


def _schedule(client: redis.Redis, count: int) -> None:
    entries = {}
    for n in range(count):
        message = json.dumps({"body": "", "headers": {"id": f"later-{n}", "task": "x.Y"}, "properties": {}})
        entries[json.dumps({"key": "default", "message": message, "id": f"later-{n}"})] = 4e9 + n  # due in 2096
    client.zadd(SCHEDULED_KEY, entries)


def test_flowers_send_task_with_a_forged_throttle_key_leaves_the_scheduled_set_whole(
    stack: tuple[Service, Service, str],
) -> None:
    worker, _, url = stack
    client = redis.Redis.from_url(FLOWER_REDIS_URL)
    _schedule(client, 20_004)
    forged = {"queue": "default", "headers": {"conveyor_throttle": {"key": SCHEDULED_KEY, "limit": 10**9, "period": 1}}}
    status, _, reply = request(
        url + "/api/task/send-task/tasks.weekly_report_job.WeeklyReportJob",
        {**basic(LOGIN), "Content-Type": "application/json"},
        data=json.dumps(forged).encode(),
    )
    assert status == 200, reply
    job_id = json.loads(reply)["task-id"]
    dead = DeadSet(client)

    def buried() -> bool:
        return any(job_id in base64.b64decode(r.get("raw_entry") or "").decode() for r in dead.list(limit=50))

    wait_for(buried)
    assert client.zcard(SCHEDULED_KEY) == 20_004
    assert client.pttl(SCHEDULED_KEY) == -1
    [record] = [r for r in dead.list(limit=50) if job_id in base64.b64decode(r.get("raw_entry") or "").decode()]
    assert "conveyor_throttle header names no key under conveyor:throttle:" in record["reason"]
    # and a send to a reserved key is refused by the channel, not written
    status, _, reply = request(
        url + "/api/task/send-task/tasks.weekly_report_job.WeeklyReportJob",
        {**basic(LOGIN), "Content-Type": "application/json"},
        data=json.dumps({"queue": PAUSED_KEY}).encode(),
    )
    assert status == 500
    assert client.type(PAUSED_KEY) == b"none"
    assert worker.process.poll() is None
    client.delete(SCHEDULED_KEY)


def test_clear_of_the_scheduled_set_is_refused_and_audited(stack: tuple[Service, Service, str]) -> None:
    _, flower, url = stack
    client = redis.Redis.from_url(FLOWER_REDIS_URL)
    _schedule(client, 3)
    for name in (SCHEDULED_KEY, "unacked", "redbeat::schedule"):
        status, _, page = post(url, f"/queues/{name}/clear", {"confirm": name}, basic(LOGIN))
        assert status == 400, name
        assert "is not a queue" in page
    assert client.zcard(SCHEDULED_KEY) == 3
    flower.wait_for("queues: admin was refused clear of 'conveyor:scheduled'")
    status, _, page = post(url, "/queues/nosuchqueue/pause", {}, basic(LOGIN))
    assert (status, "no queue 'nosuchqueue': " in page) == (400, True)
    assert client.smembers(PAUSED_KEY) == set()
    client.delete(SCHEDULED_KEY)


def test_the_audit_names_the_login_whatever_the_header_spacing(stack: tuple[Service, Service, str]) -> None:
    _, flower, url = stack
    for spacing in ("  ", "\t"):
        headers = {"Authorization": "Basic" + spacing + base64.b64encode(LOGIN.encode()).decode()}
        status, _, _ = post(url, "/queues/default/pause", {}, headers)
        assert status == 302
        flower.wait_for("queues: admin paused 'default'")
        assert post(url, "/queues/default/resume", {}, headers)[0] == 302
        flower.wait_for("queues: admin resumed 'default'")
    assert "unknown" not in flower.output


def _dead_message(client: redis.Redis, job_id: str, **headers: object) -> None:
    body = base64.b64encode(json.dumps([[SECRET], {}, {}]).encode()).decode()
    task = "tasks.notification_job.NotificationJob"
    DeadSet(client).add(
        {
            "id": job_id,
            "task": task,
            "job_class": "NotificationJob",
            "queue": "default",
            "reason": "r",
            "error": "E",
            "attempts": 1,
            "args": [SECRET],
            "argsrepr": "[FILTERED]",
            "message": {
                "body": body,
                "content_type": "application/json",
                "content_encoding": "utf-8",
                "headers": {"task": task, "id": job_id, "argsrepr": "[FILTERED]", **headers},
            },
        }
    )


def _row(page: str, job_id: str) -> str:
    row = page[page.index(f'id="dead-{job_id}"') :]
    return row[: row.index("</tr>")]


def test_filtered_arguments_stay_filtered_on_the_dead_page_and_in_the_cli(stack: tuple[Service, Service, str]) -> None:
    _, _, url = stack
    client = redis.Redis.from_url(FLOWER_REDIS_URL)
    _dead_message(client, "secret-1", conveyor_unique={"key": "conveyor:unique:tasks.x:1", "ttl_ms": 1000})
    _dead_message(client, "forged-1", conveyor_limit={"key": "conveyor:dead", "to": 1})
    status, _, page = request(url + "/dead", basic(LOGIN))
    assert status == 200
    assert SECRET not in page
    shown = _row(page, "secret-1")
    assert "[FILTERED] (log_arguments = False)" in shown
    assert "with <code>conveyor_unique</code> <code>conveyor:unique:tasks.x:1</code>" in shown  # what Retry re-sends
    assert "/secret-1/retry" in shown
    forged = _row(page, "forged-1")
    assert "Cannot be retried: its conveyor_limit header names a key that is not conveyor&#x27;s" in forged
    assert "/forged-1/retry" not in forged
    environment = {**os.environ, "PYTHONPATH": str(ROOT), "REDIS_URL": FLOWER_REDIS_URL}
    for extra in (["--json"], []):
        cli = subprocess.run(
            [sys.executable, "-m", "celery", "-A", "app", "jobs", "dead", "list", *extra],
            cwd="/",
            capture_output=True,
            text=True,
            timeout=60,
            env=environment,
        )
        assert cli.returncode == 0, cli.stderr
        assert "secret-1" in cli.stdout
        assert SECRET not in cli.stdout, extra
    assert "NotificationJob[FILTERED]" in cli.stdout
    DeadSet(client).delete("secret-1")
    DeadSet(client).delete("forged-1")


def test_the_dead_page_pages_and_metrics_survive_a_field_that_is_no_count(stack: tuple[Service, Service, str]) -> None:
    _, _, url = stack
    client = redis.Redis.from_url(FLOWER_REDIS_URL)
    dead = DeadSet(client)
    now = time.time()
    for n in range(150):
        dead.add(
            dead_record(f"page-{n:03d}", "r", error="E", task="x.Y", queue="default"),
            now=now + n,
        )
    first, second = request(url + "/dead", basic(LOGIN))[2], request(url + "/dead?page=2", basic(LOGIN))[2]
    assert first.count('id="dead-page-') == 100
    assert 'id="dead-page-149"' in first
    assert second.count('id="dead-page-') == 50
    assert 'id="dead-page-000"' in second
    assert 'href="/dead?page=2"' in first
    assert request(url + "/dead?page=abc", basic(LOGIN))[0] == 400
    client.hset(f"conveyor:metrics:{int(now) // 300 * 300}", "ReportJob|p", "not-a-number")
    assert request(url + "/job-metrics", basic(LOGIN))[0] == 200
    client.delete(*client.keys("conveyor:metrics:*"), "conveyor:dead", "conveyor:dead:jobs")


def test_read_only_mode_covers_conveyors_actions(tmp_path: Path) -> None:
    require_redis()
    client = redis.Redis.from_url(FLOWER_REDIS_URL)
    DeadSet(client).add(dead_record("ro-1", "r", error="E", task="x.Y", queue="default"))
    batches, batch_id = RedisBatchStore(client), "3f2c1a9e-0000-4000-8000-00000000000a"
    batches.open(batch_id, description="", properties="{}", parent=None, callbacks={})
    batches.add(batch_id, ["ro-1"])
    batches.end(batch_id, "ro-1", DEAD)
    flower, url = start_flower(tmp_path, FLOWER_BASIC_AUTH=LOGIN, FLOWER_READ_ONLY="true")
    try:
        flower.wait_listening(int(url.rsplit(":", 1)[1]))
        for page in ("/queues", "/dead", "/schedule", "/scheduled", "/busy", "/batches", f"/batches/{batch_id}"):
            status, _, html = request(url + page, basic(LOGIN))
            assert status == 200, page
            assert 'method="post"' not in html, page  # no action form is offered
        for path, fields in (
            ("/queues/default/pause", {}),
            ("/queues/default/clear", {"confirm": "default"}),
            ("/dead/ro-1/delete", {"confirm": "yes"}),
            ("/waiting/scheduled/kill", {"id": "x"}),
            (f"/batches/{batch_id}/retry-dead", {"confirm": "yes"}),
            (f"/batches/{batch_id}/cancel", {"confirm": "yes"}),
        ):
            status, headers, _ = request(url + "/queues", basic(LOGIN))
            cookie = headers.get("Set-Cookie", "").split(";")[0]
            body = "&".join(f"{k}={v}" for k, v in fields.items()).encode()
            assert request(url + path, {**basic(LOGIN), "Cookie": cookie}, data=body)[0] == 403, path
        assert client.smembers(PAUSED_KEY) == set()
        assert DeadSet(client).get("ro-1") is not None
        assert (batches.state(batch_id).dead, batches.state(batch_id).cancelled) == (1, False)
    finally:
        flower.stop()
        DeadSet(client).delete("ro-1")


def test_without_login_flower_answers_only_its_own_host_and_its_own_pages(tmp_path: Path) -> None:
    require_redis()
    client = redis.Redis.from_url(FLOWER_REDIS_URL)
    flower, url = start_flower(tmp_path, FLOWER_UNAUTHENTICATED="1")
    port = url.rsplit(":", 1)[1]
    try:
        flower.wait_listening(int(port))
        # DNS rebinding: the attacker's name resolves to 127.0.0.1; the browser sends its Host.
        assert request(url + "/queues", {"Host": f"rebind.attacker.example:{port}"})[0] == 403
        assert request(url + "/tasks", {"Host": f"rebind.attacker.example:{port}"})[0] == 403  # Flower's own page too
        assert request(url + "/tasks", {"Host": f"localhost:{port}"})[0] == 200
        status, headers, page = request(url + "/queues")
        assert status == 200
        token = form(page)
        cookie = headers["Set-Cookie"].split(";")[0]
        body = f"_xsrf={token}".encode()
        tossed = {"Cookie": cookie, "Origin": "http://127.0.0.1:1"}  # a page on another local port
        assert request(url + "/queues/default/pause", tossed, data=body)[0] == 403
        assert request(url + "/queues/default/pause", {"Cookie": cookie}, data=body)[0] == 403  # no origin at all
        assert client.smembers(PAUSED_KEY) == set()
        own = {"Cookie": cookie, "Origin": f"http://127.0.0.1:{port}"}
        assert request(url + "/queues/default/pause", own, data=body)[0] == 302
        assert client.smembers(PAUSED_KEY) == {b"default"}
        flower.wait_for("queues: anonymous (Flower runs without login) paused 'default'")
    finally:
        flower.stop()
        client.delete(PAUSED_KEY)
