"""Redis behind Sentinel, for real: a master, a replica and three sentinels (``tests/sentinels.py``).

One ``redis+sentinel://`` URL configures the app; the broker (a real worker), the result
backend, the scheduled-set poller, redbeat, Flower's broker client and conveyor's own
clients all reach the master through the sentinels, and follow a ``SENTINEL FAILOVER``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from celery import Celery

import conveyor
from conveyor import Job, limits_concurrency, unique
from conveyor.master_switches import switches_followed
from conveyor.sentinel import parse_sentinel_url
from conveyor.settings import redis_client
from conveyor.testing import worker_thread
from tests.conftest import missing_service
from tests.sentinels import DATA_PASSWORD, SENTINEL_PASSWORD, SERVICE, SentinelGroup, redis_server, redis_with_sentinels

pytestmark = pytest.mark.processes

_RUNS: Counter[int] = Counter()
_RAN = threading.Condition()


class CountedJob(Job):
    """Counts its runs by number (the worker is a thread of this process)."""

    queue_as = "sentinel"

    def perform(self, number: int) -> int:
        with _RAN:
            _RUNS[number] += 1
            _RAN.notify_all()
        return number * 2


def wait_for_runs(numbers: range, timeout_s: float = 60) -> None:
    with _RAN:
        if not _RAN.wait_for(lambda: all(_RUNS[n] for n in numbers), timeout_s):
            missing = [n for n in numbers if not _RUNS[n]]
            raise AssertionError(f"{len(missing)} of {len(numbers)} jobs did not run, e.g. {missing[:5]}")


@pytest.fixture(scope="module")
def group(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SentinelGroup]:
    if redis_server() is None:
        missing_service("redis-server is not on PATH (the Sentinel tests start a master, a replica and sentinels)")
    with redis_with_sentinels(tmp_path_factory.mktemp("sentinels")) as running:
        yield running


@pytest.fixture
def sentinel_app(group: SentinelGroup) -> Iterator[Celery]:
    url = group.url()
    app = conveyor.configure(
        Celery("sentinel_tests"),
        default=False,
        broker_url=url,
        result_backend=url,
        conveyor_redis_sentinel_password=SENTINEL_PASSWORD,
        conveyor_store_results=True,
        conveyor_scheduled_poll_interval=0.2,
    )
    redis_client(app).flushdb()
    _RUNS.clear()
    app.set_current()
    yield app
    app.close()  # its broker and result-backend pools


def port_of(client: Any) -> int:
    return int(client.info("server")["tcp_port"])


def test_every_component_reaches_the_master_through_the_sentinels(group: SentinelGroup, sentinel_app: Celery) -> None:
    from flower.utils.broker import Broker
    from redbeat.schedulers import get_redis

    master = group.master_port()
    assert port_of(redis_client(sentinel_app)) == master  # conveyor's own clients (CLI, Flower pages, poller)
    assert port_of(get_redis(sentinel_app)) == master  # redbeat
    with sentinel_app.connection() as connection:  # what Flower's broker page is given (flower.app)
        flower = Broker(
            connection.as_uri(include_password=True), broker_options=sentinel_app.conf.broker_transport_options
        )
    [depth] = asyncio.run(flower.queues(["sentinel"]))  # Flower's queue lengths, on the master
    assert depth == {"name": "sentinel", "messages": 0}
    with worker_thread(sentinel_app, queues=["sentinel"]):
        now = CountedJob.perform_later(1)
        later = CountedJob.set(wait=5.5).perform_later(2)  # past the 5 s threshold: the scheduled set
        assert now.async_result.get(timeout=30) == 2  # the result backend, through the sentinels
        assert later.async_result.get(timeout=30) == 4
    assert dict(_RUNS) == {1: 1, 2: 1}
    assert group.data(master).zcard("conveyor:scheduled") == 0


def test_jobs_sent_before_and_after_a_failover_all_run_once_on_a_worker_that_stays_up(
    group: SentinelGroup, sentinel_app: Celery
) -> None:
    old = group.master_port()
    with worker_thread(sentinel_app, queues=["sentinel"]) as worker:
        conveyor.perform_all_later([CountedJob(n) for n in range(200)])
        wait_for_runs(range(200))
        new = group.failover()
        # The demoted master answers READONLY (or drops its clients) once the sentinels reconfigure it.
        group.wait_until(
            lambda: group.data(old).info("replication")["role"] == "slave", 60, "the old master was not demoted"
        )
        conveyor.perform_all_later([CountedJob(n) for n in range(200, 400)])
        wait_for_runs(range(400))
        assert worker.blueprint.state == 1  # RUN: the worker never stopped
    assert new != old
    assert port_of(redis_client(sentinel_app)) == new
    assert sorted(_RUNS) == list(range(400))
    assert max(_RUNS.values()) == 1, [n for n, runs in _RUNS.items() if runs > 1]


_GO = threading.Event()
_STARTED = threading.Event()


@unique(within=120)
@limits_concurrency(to=1, key=lambda name, **_: name, duration=120)
class HeldAcrossJob(Job):
    """Holds a unique lock and a concurrency slot while it runs; runs until the test lets it go."""

    queue_as = "sentinel"

    def perform(self, name: str) -> str:
        _STARTED.set()
        assert _GO.wait(60)
        with _RAN:
            _RUNS[len(name)] += 1
            _RAN.notify_all()
        return name


@contextlib.contextmanager
def _released_at_the_end() -> Iterator[None]:
    # A failed assertion must not leave the held job waiting: its worker could not stop.
    try:
        yield
    finally:
        _GO.set()


def test_a_job_running_across_a_failover_is_acknowledged_on_the_new_master_and_its_lock_and_slot_hold(
    group: SentinelGroup, sentinel_app: Celery
) -> None:
    # Given a replica in sync, and a job running that holds a unique lock and a concurrency slot
    master_port = group.master_port()
    master = group.data(master_port)
    online = lambda: (master.info("replication").get("slave0") or {}).get("state") == "online"  # noqa: E731
    group.wait_until(online, 60, "no replica online")
    _GO.clear()
    _STARTED.clear()
    with worker_thread(sentinel_app, queues=["sentinel"]), _released_at_the_end():
        running = HeldAcrossJob.perform_later("report")
        assert _STARTED.wait(30)
        # Its claim, lock and slot are on the replica. WAIT waits for this connection's own writes only (the
        # producer's and the worker's were on theirs), so write here first: the replication stream is one
        # sequence, and a replica that has this write has every write before it. (Without it, WAIT returned
        # at once and a failover under load lost the lock: async replication, which the test did not mean.)
        master.set("test:replicated-up-to-here", running.job_id)
        assert master.execute_command("WAIT", 1, 4000) == 1

        # When Sentinel promotes the replica while it runs
        new_port = group.failover()
        new = group.data(new_port)

        # Then its lock still refuses a duplicate, and its slot still holds a second job of its key back
        duplicate = HeldAcrossJob.perform_later("report")
        holders = {
            port: {key: group.data(port).get(key) for key in group.data(port).keys("conveyor:unique:*")}
            for port in group.data_ports
        }
        roles = {port: group.data(port).info("replication")["role"] for port in group.data_ports}
        assert not duplicate.successfully_enqueued, (
            f"duplicate {duplicate.job_id} accepted while {running.job_id} ran; old master {master_port}, "
            f"new {new_port}; roles now {roles}; the lock's holder on each node now: {holders}"
        )
        assert duplicate.duplicate_of == running.job_id
        [slots] = [key for key in new.keys("conveyor:limit:*") if not key.endswith(b":blocked")]
        assert new.zscore(slots, running.job_id) is not None
        # And once it finishes it is acknowledged on the new master (nothing left claimed there), its slot
        # and its lock are released there: the same job can be sent again, and runs
        _GO.set()
        wait_for_runs(range(6, 7))
        group.wait_until(lambda: new.hlen("unacked") == 0, 30, "the running job was not acknowledged")
        assert all(new.scard(key) == 0 for key in new.keys("conveyor:held:*"))
        group.wait_until(lambda: new.zscore(slots, running.job_id) is None, 30, "its slot was not released")
        again = HeldAcrossJob.perform_later("report")
        assert again.successfully_enqueued
        with _RAN:
            assert _RAN.wait_for(lambda: _RUNS[6] == 2, 30)


def test_a_durable_enqueue_returns_once_the_replica_has_the_job(group: SentinelGroup, sentinel_app: Celery) -> None:
    # Given an app whose enqueues wait for one replica (conveyor_enqueue_replicas), and the replica in sync
    master_port = group.master_port()
    master = group.data(master_port)
    online = lambda: (master.info("replication").get("slave0") or {}).get("state") == "online"  # noqa: E731
    group.wait_until(online, 60, "no replica online")
    [replica_port] = [port for port in group.data_ports if port != master_port]
    durable = conveyor.configure(
        Celery("durable"),
        default=False,
        broker_url=group.url(),
        conveyor_redis_sentinel_password=SENTINEL_PASSWORD,
        broker_transport_options={"conveyor_enqueue_replicas": 1},
    )
    durable.set_current()
    try:
        # When jobs are enqueued, one by one and in a batch
        CountedJob.perform_later(1)
        conveyor.perform_all_later([CountedJob(2), CountedJob(3)])
    finally:
        sentinel_app.set_current()
        durable.close()
    # Then, as soon as each call returned, the replica held its jobs (the write survives a failover)
    replica = group.data(replica_port)
    assert sum(replica.llen(key) for key in replica.keys("sentinel*")) == 3


def test_writes_follow_a_promotion_at_once_while_the_old_master_still_takes_them(
    group: SentinelGroup, sentinel_app: Celery
) -> None:
    # Given a replica in sync (an earlier failover left one resynchronizing), and conveyor's client and the
    # broker's producer, each with a connection to the master
    master = group.data(group.master_port())
    online = lambda: (master.info("replication").get("slave0") or {}).get("state") == "online"  # noqa: E731
    group.wait_until(online, 60, "no replica online")
    client = redis_client(sentinel_app)
    CountedJob.perform_later(0)
    # WAIT covers this connection's writes and all before them in the replication stream: the job's too
    client.set("probe", "before")
    assert client.execute_command("WAIT", 1, 4_000) == 1  # the replica has both (what is lost otherwise is not this)
    old, followed = group.master_port(), switches_followed(SERVICE)

    # When Sentinel promotes the replica, and announces it
    new = group.failover()
    group.wait_until(lambda: switches_followed(SERVICE) > followed, 30, "the promotion was not followed")

    # Then, while the old master is not demoted yet and would still take writes (lost at its demotion),
    # conveyor's writes and the broker's enqueues go to the new master
    assert group.data(old).info("replication")["role"] == "master"
    client.set("probe", "after")
    CountedJob.perform_later(1)
    assert group.data(new).get("probe") == b"after"
    queued = group.data(new)
    lists = queued.keys("sentinel*")  # the queue at the job's priority step
    assert sum(queued.llen(key) for key in lists) == 2  # the job sent before (replicated) and the one sent after
    assert group.data(old).get("probe") == b"before"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ("sentinels", "cannot reach the master of service 'mymaster' via sentinels 127.0.0.1:"),
        ("service", "the sentinels monitor no service 'nosuchmaster' (they know mymaster)"),
        ("sentinel_password", "refused the sentinel password"),
        ("data_password", "refused the login in REDIS_URL"),
    ],
)
def test_a_wrong_sentinel_setting_is_one_line_naming_what_is_wrong(
    group: SentinelGroup, change: str, expected: str
) -> None:
    from conveyor.devserver import free_port

    url, password = group.url(), SENTINEL_PASSWORD
    if change == "sentinels":
        url = f"redis+sentinel://:{DATA_PASSWORD}@127.0.0.1:{free_port()},127.0.0.1:{free_port()}/{SERVICE}/0"
    elif change == "service":
        url = url.replace(f"/{SERVICE}/", "/nosuchmaster/")
    elif change == "sentinel_password":
        password = "wrong"
    else:
        url = group.url(password="wrong")
    problem = parse_sentinel_url(url, password).problem(0.5, 0.5)
    assert problem is not None
    assert expected in problem
    assert "\n" not in problem
    assert "wrong" not in problem.replace("refused", "")  # no password in the message
    assert parse_sentinel_url(group.url(), SENTINEL_PASSWORD).problem(0.5, 0.5) is None


@pytest.mark.parametrize("command", [["worker", "--pool=solo"], ["jobs", "queues"]], ids=["worker", "cli"])
def test_a_worker_or_cli_on_unreachable_sentinels_exits_naming_them(command: list[str]) -> None:
    from conveyor.devserver import free_port

    url = f"redis+sentinel://127.0.0.1:{free_port()},127.0.0.1:{free_port()}/{SERVICE}/0"
    result = subprocess.run(
        [sys.executable, "-m", "celery", "-A", "tests.conveyor.broker.sentinel_app", *command],
        env={**os.environ, "SENTINEL_TEST_URL": url},
        cwd=Path(__file__).resolve().parents[3],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "cannot reach the master of service 'mymaster' via sentinels 127.0.0.1:" in output
    assert "does not answer (ConnectionError" in output
    if command[0] == "jobs":  # the CLI: one line, no traceback
        assert output.count("\n") == 1, output
