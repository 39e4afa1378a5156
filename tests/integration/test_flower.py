"""Flower as the service runs it: bound to loopback, behind a login, with the Schedule page."""

from __future__ import annotations

import base64
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
import redis

from conveyor.devserver import free_port
from tests.conftest import TEST_REDIS_URL, require_redis
from tests.integration.services import Service

pytestmark = [pytest.mark.redis, pytest.mark.processes]
FLOWER_REDIS_URL = urlunsplit(urlsplit(TEST_REDIS_URL)._replace(path="/11"))
LOGIN = "admin:s3cret-test"


def request(url: str, login: str | None = None, data: bytes | None = None) -> tuple[int, str]:
    req = urllib.request.Request(url, data=data)
    if login:
        req.add_header("Authorization", "Basic " + base64.b64encode(login.encode()).decode())
    try:
        with urllib.request.urlopen(req, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(errors="replace")


@pytest.fixture(scope="module")
def flower() -> Iterator[str]:
    require_redis()
    client = redis.Redis.from_url(FLOWER_REDIS_URL)
    client.flushdb()
    env = {"REDIS_URL": FLOWER_REDIS_URL, "FLOWER_BASIC_AUTH": LOGIN, "FLOWER_PORT": str(free_port())}
    sync = Service.celery("schedule", "sync", env=env)
    assert sync.wait() == 0, sync.output
    service = Service.celery("flower", env=env)
    service.wait_for("Visit me at")
    service.wait_listening(int(env["FLOWER_PORT"]))
    yield f"http://127.0.0.1:{env['FLOWER_PORT']}"
    service.stop()
    client.flushdb()


def test_flower_refuses_to_start_without_credentials() -> None:
    env = {"REDIS_URL": FLOWER_REDIS_URL, "FLOWER_BASIC_AUTH": "", "FLOWER_PORT": str(free_port())}
    service = Service.celery("flower", env={**env, "FLOWER_UNAUTHENTICATED": "0"})
    assert service.wait() != 0
    assert "refusing to start without a login. Set FLOWER_BASIC_AUTH=user:password" in service.output


def test_pages_and_the_api_need_the_login(flower: str) -> None:
    for path in ("/", "/tasks", "/schedule", "/api/workers", "/api/tasks"):
        assert request(flower + path)[0] == 401, path
        assert request(flower + path, "admin:wrong")[0] == 401, path
    assert request(flower + "/", LOGIN)[0] == 200


def test_it_listens_on_loopback_only(flower: str) -> None:
    import psutil

    port = int(flower.rsplit(":", 1)[1])
    listening = [c for c in psutil.net_connections("tcp") if c.laddr and c.laddr.port == port and c.status == "LISTEN"]
    assert listening
    assert {c.laddr.ip for c in listening} <= {"127.0.0.1"}


def test_metrics_answer_without_login_and_include_queue_depth(flower: str) -> None:
    status, body = request(flower + "/metrics")
    assert status == 200
    assert 'conveyor_queue_depth{priority="5",queue="low_priority"}' in body


def test_the_schedule_page_lists_the_entries_in_flowers_layout(flower: str) -> None:
    status, page = request(flower + "/schedule", LOGIN)
    assert status == 200
    assert "Schedule · Flower" in page
    assert 'href="/schedule"' in page  # the navbar link, on Flower's own navbar
    assert "daily_cleanup" in page
    assert "At 02:00 AM (cron &quot;0 2 * * *&quot;)" in page
    assert "Europe/Berlin" in page
    assert " 02:00:00 CE" in page  # next run: 02:00 Berlin time (CET or CEST)
    assert "<td>never</td>" in page  # synced, not run yet
    status, workers = request(flower + "/workers", LOGIN)
    assert 'href="/schedule"' in workers  # Flower's own pages link to it too


def test_schedule_actions_need_the_forms_xsrf_token(flower: str) -> None:
    status, _ = request(flower + "/schedule/daily_cleanup/disable", LOGIN, data=b"")
    assert status == 403
    status, page = request(flower + "/schedule", LOGIN)
    assert "<td>yes</td>" in page  # still enabled


def test_the_dead_page_lists_dead_jobs_and_retries_one_with_the_forms_token(flower: str) -> None:
    import http.cookiejar
    import re
    import urllib.parse

    from conveyor.broker.dead.dead_set import DeadSet
    from tests.redis_reading import queued_messages

    client = redis.Redis.from_url(FLOWER_REDIS_URL)
    dead_set = DeadSet(client)
    dead_set.add(
        {
            "id": "dead-job-1",
            "task": "tasks.data_processing_job.DataProcessingJob",
            "job_class": "DataProcessingJob",
            "args": [7],
            "kwargs": {},
            "argsrepr": "(7,)",
            "queue": "default",
            "priority": 5,
            "meta": {},
            "reason": "failed",
            "error": "ValueError: <bad> input",
            "backtrace": "Traceback ...",
            "attempts": 3,
        }
    )
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    auth = {"Authorization": "Basic " + base64.b64encode(LOGIN.encode()).decode()}

    with opener.open(urllib.request.Request(flower + "/dead", headers=auth), timeout=10) as response:
        page = response.read().decode()
    assert "Dead · Flower" in page
    assert 'href="/dead"' in page
    assert 'id="dead-dead-job-1"' in page
    assert '<a href="/task/dead-job-1" class="text-muted">dead-job-1</a>' in page  # to Flower's task page
    assert 'name="confirm" value="yes" required' in page  # Delete asks first
    assert "ValueError: &lt;bad&gt; input" in page  # escaped
    token = re.search(r'name="_xsrf" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]

    form = urllib.parse.urlencode({"_xsrf": token}).encode()
    unconfirmed = urllib.request.Request(flower + "/dead/dead-job-1/delete", data=form, headers=auth)
    with opener.open(unconfirmed, timeout=10) as response:
        unconfirmed_page = response.read().decode()
    assert "Not deleted: tick &#x27;sure&#x27; next to Delete to delete dead-job-1" in unconfirmed_page
    assert dead_set.get("dead-job-1") is not None
    retry = urllib.request.Request(flower + "/dead/dead-job-1/retry", data=form, headers=auth)
    with opener.open(retry, timeout=10) as response:
        after = response.read().decode()

    assert "Retried dead-job-1" in after
    assert 'id="dead-dead-job-1"' not in after
    assert dead_set.count() == 0
    [message] = queued_messages(client, "default")
    assert message["headers"]["id"] == "dead-job-1"
    assert message["headers"]["task"] == "tasks.data_processing_job.DataProcessingJob"
    assert message["decoded_body"][0] == [7]


def test_dead_actions_need_the_forms_xsrf_token(flower: str) -> None:
    from conveyor.broker.dead.dead_set import DeadSet

    dead_set = DeadSet(redis.Redis.from_url(FLOWER_REDIS_URL))
    dead_set.add({"id": "dead-job-2", "task": "x.Y", "job_class": "Y", "queue": "default", "error": "E"})
    status, _ = request(flower + "/dead/dead-job-2/delete", LOGIN, data=b"")
    assert status == 403
    assert dead_set.get("dead-job-2") is not None


def test_the_busy_page_shows_the_job_a_worker_holds_and_its_worker(flower: str) -> None:
    import os

    from celery import Celery

    import conveyor

    app = conveyor.configure(Celery("busy-page"), default=False, broker_url=FLOWER_REDIS_URL)
    with app.connection_for_read() as connection:  # a consumer holding one job, as a worker does
        with app.producer_or_acquire() as producer:
            limit = {"key": "conveyor:limit:tasks.x.ReportJob:9", "to": 1, "duration": 60, "discard": False}
            producer.publish(
                {},
                routing_key="busy",
                headers={"id": "busy-job-1", "task": "tasks.x.ReportJob", "conveyor_limit": limit},
            )
        channel = connection.channel()
        held: list[Any] = []
        channel.basic_consume("busy", no_ack=False, callback=held.append, consumer_tag="busy-page")
        connection.drain_events(timeout=5)
        assert [message.headers["id"] for message in held] == ["busy-job-1"]

        status, page = request(flower + "/busy", LOGIN)
        assert status == 200
        assert 'href="/busy"' in page  # in the navbar
        assert 'id="busy-busy-job-1"' in page
        assert "<strong>ReportJob</strong>" in page
        assert f":{os.getpid()}</td>" in page  # the worker process holding it
        assert "alive" in page
        assert 'id="limit-conveyor:limit:tasks.x.ReportJob:9"' in page  # its concurrency slot
        assert '<td class="running">1 of 1</td>' in page
        channel.close()  # hands the job back
    assert request(flower + "/busy")[0] == 401
    assert "No job running." in request(flower + "/busy", LOGIN)[1]


def test_the_queues_page_shows_latency_and_unconsumed_queues_and_pauses_resumes_and_clears(flower: str) -> None:
    import re
    import urllib.parse

    from celery import Celery

    import conveyor
    from tests.redis_reading import queued_messages

    client = redis.Redis.from_url(FLOWER_REDIS_URL)
    app = conveyor.configure(Celery("queues-page"), default=False, broker_url=FLOWER_REDIS_URL)
    from conveyor import Job

    class TypoJob(Job):
        queue_as = "reprots"  # a queue no worker consumes

        def perform(self) -> None: ...

    from celery import _state

    previous = _state.get_current_app()
    app.set_current()
    try:
        TypoJob.perform_later()
    finally:
        previous.set_current()
    auth = {"Authorization": "Basic " + base64.b64encode(LOGIN.encode()).decode()}
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor())
    with opener.open(urllib.request.Request(flower + "/queues", headers=auth), timeout=10) as response:
        page = response.read().decode()
    assert 'href="/queues"' in page
    assert 'id="queue-reprots"' in page
    assert "no worker consumes it" in page
    assert "not configured" in page
    token = re.search(r'name="_xsrf" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]

    def act(path: str, **fields: str) -> str:
        form = urllib.parse.urlencode({"_xsrf": token, **fields}).encode()
        with opener.open(urllib.request.Request(flower + path, data=form, headers=auth), timeout=10) as response:
            return str(response.read().decode())

    assert "Paused default" in act("/queues/default/pause")
    assert client.sismember("conveyor:paused", "default")
    assert "Resumed default" in act("/queues/default/resume")
    assert not client.sismember("conveyor:paused", "default")
    assert "Not cleared: type reprots in the box to confirm" in act("/queues/reprots/clear", confirm="yes")
    assert len(queued_messages(client, "reprots")) == 1
    assert "Cleared reprots: 1 job(s) deleted" in act("/queues/reprots/clear", confirm="reprots")
    assert queued_messages(client, "reprots") == []
    assert request(flower + "/queues/default/pause", LOGIN, data=b"")[0] == 403  # no form token


def test_the_scheduled_and_retries_pages_search_and_act_on_a_selection(flower: str) -> None:
    import re
    import urllib.parse

    from celery import Celery, _state

    import conveyor
    from conveyor.broker.dead.dead_set import DeadSet
    from tests.jobs import EchoJob
    from tests.redis_reading import queued_messages

    client = redis.Redis.from_url(FLOWER_REDIS_URL)
    app = conveyor.configure(Celery("waiting-pages"), default=False, broker_url=FLOWER_REDIS_URL)
    previous = _state.get_current_app()
    app.set_current()
    try:
        jobs = [EchoJob.set(wait=600).perform_later(name) for name in ("alpha", "beta", "gamma")]
    finally:
        previous.set_current()
    auth = {"Authorization": "Basic " + base64.b64encode(LOGIN.encode()).decode()}
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor())

    def get(path: str) -> str:
        with opener.open(urllib.request.Request(flower + path, headers=auth), timeout=10) as response:
            return str(response.read().decode())

    page = get("/scheduled")
    assert all(f'id="waiting-{job.job_id}"' in page for job in jobs)
    assert 'href="/retries"' in page
    searched = get("/scheduled?q=beta")
    assert f'id="waiting-{jobs[1].job_id}"' in searched
    assert f'id="waiting-{jobs[0].job_id}"' not in searched
    assert "No job waiting" in get("/retries")
    token = re.search(r'name="_xsrf" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]

    def post(path: str, ids: list[str], *extra: tuple[str, str]) -> str:
        form = urllib.parse.urlencode([("_xsrf", token), *(("id", job_id) for job_id in ids), *extra]).encode()
        with opener.open(urllib.request.Request(flower + path, data=form, headers=auth), timeout=10) as response:
            return str(response.read().decode())

    assert "Sent to their queue: 2 job(s)" in post("/waiting/scheduled/run", [jobs[0].job_id, jobs[1].job_id])
    sent = {m["headers"]["id"] for m in queued_messages(client, "default")}  # (earlier tests' jobs wait there too)
    assert {job.job_id for job in jobs} & sent == {jobs[0].job_id, jobs[1].job_id}
    assert "Moved to the dead set: 1 job(s)" in post("/waiting/scheduled/kill", [jobs[2].job_id])
    assert DeadSet(client).get(jobs[2].job_id)["reason"] == "killed while waiting (scheduled) by admin (Flower)"  # type: ignore[index]
    refused = post("/waiting/scheduled/delete", [jobs[2].job_id])
    assert "Not deleted: tick &#x27;sure&#x27;" in refused
    deleted = post("/waiting/scheduled/delete", [jobs[2].job_id], ("confirm", "yes"))
    assert "Deleted: 0 job(s); 1 no longer waiting" in deleted
    assert request(flower + "/waiting/scheduled/run", LOGIN, data=b"id=x")[0] == 403  # no form token


def test_the_metrics_page_shows_counts_percentiles_and_a_chart(flower: str) -> None:
    import time

    from conveyor.broker.views import metrics

    client = redis.Redis.from_url(FLOWER_REDIS_URL)
    metrics._pending.clear()
    for runtime in (0.004, 0.004, 0.3):
        metrics.record("ReportJob", runtime, failed=False)
    metrics.record("ReportJob", 0.01, failed=True)
    metrics.flush(client)

    status, page = request(flower + "/job-metrics", LOGIN)
    assert status == 200
    assert 'href="/job-metrics"' in page  # in the navbar
    assert 'id="metrics-ReportJob-hour"' in page
    assert '<td class="executions">4</td>' in page
    assert '<td class="succeeded">3</td>' in page
    assert '<td class="failed">1</td>' in page
    assert "<td>5 ms</td>" in page  # p50
    assert 'id="throughput-chart"' in page
    when = time.strftime("%b %d %H:%M", time.localtime(time.time() // 300 * 300))
    assert f"{when}: 3 succeeded, 1 failed" in page  # the current bucket's bar
    assert request(flower + "/job-metrics")[0] == 401


def test_quiet_then_stop_a_worker_from_the_busy_page(flower: str) -> None:
    import http.cookiejar
    import os
    import re
    import socket
    import time
    import urllib.parse

    from celery import Celery

    import conveyor

    name = f"quiet-{os.getpid()}@{socket.gethostname()}"
    worker = Service.celery(
        "worker", "-n", name, "-Q", "default", "-c", "1", "--loglevel=INFO", env={"REDIS_URL": FLOWER_REDIS_URL}
    )
    app = conveyor.configure(Celery("quiet-page"), default=False, broker_url=FLOWER_REDIS_URL)
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    auth = {"Authorization": "Basic " + base64.b64encode(LOGIN.encode()).decode()}

    def busy_page(path: str = "/busy", data: dict[str, str] | None = None) -> str:
        body = urllib.parse.urlencode(data).encode() if data is not None else None
        with opener.open(urllib.request.Request(flower + path, data=body, headers=auth), timeout=10) as response:
            return str(response.read().decode())

    try:
        worker.wait_for("ready.", timeout_s=60)
        deadline = time.monotonic() + 30  # Flower learns of a worker from its events
        while f'id="celery-worker-{name}"' not in (page := busy_page()):
            assert time.monotonic() < deadline, "Flower never listed the worker"
            time.sleep(0.2)
        token = re.search(r'name="_xsrf" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
        action = f"/busy/worker/{urllib.parse.quote(name)}"

        assert "Not done: tick &#x27;sure&#x27;" in busy_page(action + "/quiet", {"_xsrf": token})
        assert app.control.inspect([name], timeout=3).active_queues()[name], "still consuming"
        assert request(flower + action + "/stop", LOGIN, data=b"confirm=yes")[0] == 403  # no XSRF token
        with pytest.raises(urllib.error.HTTPError) as unknown:  # only workers Flower knows from their events
            busy_page("/busy/worker/nobody@nowhere/stop", {"_xsrf": token, "confirm": "yes"})
        assert unknown.value.code == 404

        quieted = busy_page(action + "/quiet", {"_xsrf": token, "confirm": "yes"})
        assert f"Quieted {name}: it takes no new job from default; running jobs finish" in quieted
        assert app.control.inspect([name], timeout=3).active_queues() == {name: []}, "it consumes nothing now"

        stopped = busy_page(action + "/stop", {"_xsrf": token, "confirm": "yes"})
        assert f"Stopping {name}: a warm shutdown" in stopped
        assert worker.wait(timeout_s=30) == 0
    finally:
        if worker.process.poll() is None:
            worker.stop()


def test_the_batches_pages_show_progress_and_jobs_by_state_and_retry_dead_and_cancel_with_sure_and_token(
    flower: str,
) -> None:
    import http.cookiejar
    import re
    import urllib.parse
    import uuid

    from conveyor.broker.batches import DEAD, SUCCEEDED, RedisBatchStore
    from conveyor.broker.dead.dead_set import DeadSet
    from tests.redis_reading import queued_messages

    client = redis.Redis.from_url(FLOWER_REDIS_URL)
    store, batch_id = RedisBatchStore(client), str(uuid.uuid4())
    # Given a batch "Import <7>" of 3 jobs: one succeeded, one dead (kept in the dead set), one pending
    store.open(batch_id, description="Import <7>", properties='{"import_id": 7}', parent=None, callbacks={})
    store.add(batch_id, ["row-1", "row-2", "row-3"])
    store.close(batch_id)
    store.end(batch_id, "row-1", SUCCEEDED)
    store.end(batch_id, "row-2", DEAD)
    DeadSet(client).add(
        {
            "id": "row-2",
            "task": "tasks.data_processing_job.DataProcessingJob",
            "job_class": "DataProcessingJob",
            "args": [7],
            "kwargs": {},
            "queue": "default",
            "meta": {"batch": batch_id},
            "reason": "failed",
            "error": "ValueError: bad row",
            "attempts": 1,
        }
    )
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    auth = {"Authorization": "Basic " + base64.b64encode(LOGIN.encode()).decode()}

    def get(path: str) -> str:
        with opener.open(urllib.request.Request(flower + path, headers=auth), timeout=10) as response:
            return str(response.read().decode())

    def post(path: str, **fields: str) -> str:
        data = urllib.parse.urlencode({"_xsrf": token, **fields}).encode()
        with opener.open(urllib.request.Request(flower + path, data=data, headers=auth), timeout=10) as response:
            return str(response.read().decode())

    # The list shows its progress (escaped description), linking to the batch's page
    listing = get("/batches")
    assert "Batches · Flower" in listing
    assert 'href="/batches"' in listing
    row = listing[listing.index(f'id="batch-{batch_id}"') :]
    assert f'<a href="/batches/{batch_id}"><strong>Import &lt;7&gt;</strong></a>' in row
    assert '<progress max="3" value="2"' in row
    assert "2 of 3 ended: 1 succeeded, 0 discarded, 1 dead" in row
    # The batch's page shows its jobs by state and its actions, each asking "sure"
    page = get(f"/batches/{batch_id}")
    assert "3 in all: 1 pending (0 retrying), 1 succeeded, 0 discarded, 1 dead" in page
    assert '<h2 class="h6 mt-3" id="jobs-dead">dead (1)</h2>' in page
    assert "<li>row-2</li>" in page
    assert page.count('name="confirm" value="yes" required') == 2
    token = re.search(r'name="_xsrf" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    # Without "sure", nothing is done
    assert "Nothing done: tick &#x27;sure&#x27; next to Retry dead" in post(f"/batches/{batch_id}/retry-dead")
    assert store.state(batch_id).dead == 1
    # With it, the dead job is sent again (same id, with its batch) and the batch has it pending again
    after = post(f"/batches/{batch_id}/retry-dead", confirm="yes")
    assert f"Sent 1 dead job(s) of batch {batch_id} again" in after
    assert (store.state(batch_id).dead, store.state(batch_id).pending) == (0, 2)
    [message] = queued_messages(client, "default")
    assert message["headers"]["id"] == "row-2"
    assert message["headers"]["conveyor"]["batch"] == batch_id
    assert "Cancelled batch" in post(f"/batches/{batch_id}/cancel", confirm="yes")
    assert store.state(batch_id).cancelled
    # An unknown id, or one that is not a batch id, is a 404; a post without the form's token a 403
    assert request(f"{flower}/batches/{uuid.uuid4()}", LOGIN)[0] == 404
    assert request(f"{flower}/batches/abc-def", LOGIN)[0] == 404
    assert request(f"{flower}/batches/{batch_id}/cancel", LOGIN, data=b"confirm=yes")[0] == 403
    client.delete("default")
