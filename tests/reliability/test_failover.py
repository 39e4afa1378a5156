"""A Sentinel failover under load, with the service's own processes and shipped defaults.

A master, a replica and three sentinels (``tests/sentinels.py``); the service's prefork worker,
beat (a cron entry every 2 s) and Flower, all configured by one ``redis+sentinel://`` REDIS_URL.
1,000 jobs are in flight and 20 ``set(wait=…)`` jobs wait in the scheduled set when the master
changes: politely (``SENTINEL FAILOVER``) or by ``kill -9``. Jobs record their runs in a Redis of
the test's own, which does not fail over.

Only the sentinels' ``down-after-milliseconds`` is shortened (1 s; Sentinel's default is 30 s):
it sets how long a killed master goes unnoticed, not what conveyor does once it is. With the
default, the heartbeats (TTL 30 s) can expire during the outage; the recovery grace that covers
that is tested on its own (``tests/conveyor/broker/fetch/test_recovery_grace.py``).
"""

from __future__ import annotations

import itertools
import os
import signal
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest
import redis
from celery import Celery

import conveyor
from conveyor.devserver import free_port
from tests.conftest import missing_service
from tests.integration.services import Service
from tests.private_redis import private_redis
from tests.reliability.conftest import report, wait_until
from tests.reliability.failover_jobs import FailoverJob
from tests.sentinels import SENTINEL_PASSWORD, SentinelGroup, redis_server, redis_with_sentinels

pytestmark = [pytest.mark.processes, pytest.mark.slow]

JOBS, SCHEDULED, SLEEP_MS = 1000, 20, 8
SCHEDULE = """
failover_tick:
  every: "2 seconds"
  job: tests.reliability.failover_jobs.FailoverCronJob
"""


@pytest.fixture
def group(tmp_path: Path) -> Iterator[SentinelGroup]:
    if redis_server() is None:
        missing_service("redis-server is not on PATH (a master, a replica and sentinels are started)")
    with redis_with_sentinels(tmp_path / "sentinels") as running:
        yield running


@pytest.fixture
def records(tmp_path: Path) -> Iterator[tuple[redis.Redis, str]]:
    with private_redis(tmp_path) as (client, _):
        yield client, f"unix://{client.connection_pool.connection_kwargs['path']}"


class Processes:
    """The service's worker, beat and Flower on the Sentinel URL (as ``make run`` starts them)."""

    def __init__(self, group: SentinelGroup, records_url: str, folder: Path) -> None:
        schedule = folder / "schedule.yaml"
        schedule.write_text(SCHEDULE)
        self.flower_port = free_port()
        env = {
            "REDIS_URL": group.url(),
            "REDIS_SENTINEL_PASSWORD": SENTINEL_PASSWORD,
            "SCHEDULE_FILE": str(schedule),
            "RELIABILITY_RECORDS_URL": records_url,
            "FLOWER_BASIC_AUTH": "admin:s3cret-test",
            "FLOWER_PORT": str(self.flower_port),
            "DATABASE_URL": f"sqlite:///{folder / 'app.db'}",
        }
        self.worker = Service.celery(
            "worker", "-I", "tests.reliability.failover_jobs", "-Q", "default", "-c", "2", "--loglevel=INFO", env=env
        )
        self.beat = Service.celery("beat", "--loglevel=INFO", env=env)
        self.flower = Service.celery("flower", env=env)
        self.all = {"worker": self.worker, "beat": self.beat, "flower": self.flower}
        self.worker.wait_for("ready.", timeout_s=60)
        self.beat.wait_for("synced", timeout_s=60)
        self.flower.wait_listening(self.flower_port, timeout_s=60)

    def exited(self) -> dict[str, int]:
        return {name: code for name, service in self.all.items() if (code := service.process.poll()) is not None}

    def stop(self) -> None:
        for service in self.all.values():
            if service.process.poll() is None:
                service.stop(signal.SIGTERM, timeout_s=30)


@pytest.fixture
def service(group: SentinelGroup, records: tuple[redis.Redis, str], tmp_path: Path) -> Iterator[Processes]:
    running = Processes(group, records[1], tmp_path)
    yield running
    running.stop()


@pytest.fixture
def producer(group: SentinelGroup) -> Iterator[Celery]:
    """An app that enqueues as the service's code would, on the same URL."""
    app = conveyor.configure(
        Celery("failover_producer"),
        default=False,
        broker_url=group.url(),
        result_backend=group.url(),
        conveyor_redis_sentinel_password=SENTINEL_PASSWORD,
    )
    app.set_current()
    yield app
    app.close()


def run_failover(
    group: SentinelGroup, service: Processes, records: redis.Redis, kill: bool
) -> tuple[dict[str, Any], float]:
    """Enqueue, fail over mid-run, wait for everything; return what was seen and the failover's start."""
    master = group.data(group.master_port())
    # Given 20 jobs due across the failover (the scheduled set) and 1,000 in flight, all on the replica
    for number in range(SCHEDULED):
        FailoverJob.set(wait=6 + number * 0.25).perform_later(JOBS + number)
    conveyor.perform_all_later([FailoverJob(number, SLEEP_MS) for number in range(JOBS)])
    # WAIT covers this connection's writes and every write before them in the replication stream: without
    # one of its own, it returned at once, whatever the replica had
    master.set("test:replicated-up-to-here", 1)
    assert master.execute_command("WAIT", 1, 5000) == 1  # the replica has every job sent
    wait_until(lambda: records.hlen("runs") >= JOBS // 4, 60, message="a quarter of the jobs did not run")
    cron_before = records.llen("cron")

    # When the master changes
    started = time.time()
    if kill:
        old = next(p for p in group.processes if _port_of(p) == group.master_port())
        os.kill(old.pid, signal.SIGKILL)
        group.wait_until(
            lambda: group.master_port() != _port_of(old) and group.data(group.master_port()).ping(),
            60,
            "the sentinels did not promote the replica",
        )
    else:
        group.failover()

    # Then every job runs, the cron entry keeps firing, and no process stopped
    expected = JOBS + SCHEDULED
    wait_until(
        lambda: records.hlen("runs") >= expected,
        120,
        message=lambda: f"{expected - records.hlen('runs')} of {expected} jobs did not run",
    )
    wait_until(
        lambda: records.llen("cron") >= cron_before + 3,
        30,
        message=lambda: "the cron entry stopped firing; beat said:\n" + service.beat.output[-4000:],
    )
    runs = {int(number): int(count) for number, count in records.hgetall("runs").items()}
    scored = cast(list[tuple[bytes, float]], records.zrange("ended", 0, -1, withscores=True))
    ended = sorted(score for _, score in scored)
    cron = [line.decode().split() for line in cast(list[bytes], records.lrange("cron", 0, -1))]
    return {"runs": runs, "ended": ended, "cron": cron}, started


def _port_of(process: Any) -> int:
    conf = Path(process.args[1]).read_text()
    return int(next(line.split()[1] for line in conf.splitlines() if line.startswith("port ")))


def replayed(service: Processes) -> str | None:
    """What the worker's fetch said when it left the replaced master (conveyor.broker.fetch.promotion)."""
    lines = [line for line in service.worker.lines if "sent its claims of the last" in line]
    return lines[-1].split("again: ", 1)[1].strip() if lines else None


def said(service: Processes) -> str:
    """The worker's own lines about the failover (conveyor's, redis-py's, kombu's), for a failure's message."""
    words = ("conveyor:", "master", "Connection", "connect", "READONLY", "Error")
    return "".join(line for line in service.worker.lines if any(word in line for word in words))[-6000:]


def check(seen: dict[str, Any], started: float, service: Processes) -> tuple[int, int, float]:
    runs, ended, cron = seen["runs"], seen["ended"], seen["cron"]
    assert service.exited() == {}, {name: service.all[name].output[-3000:] for name in service.exited()}
    # Flower answers, from the new master: its metrics read the queue depths from Redis
    with urllib.request.urlopen(f"http://127.0.0.1:{service.flower_port}/metrics", timeout=10) as response:
        assert response.status == 200
        assert b"conveyor_queue_depth" in response.read()
    lost = [number for number in range(JOBS + SCHEDULED) if number not in runs]
    twice = [number for number, count in runs.items() if count > 1]
    assert lost == [], f"{len(lost)} jobs lost, e.g. {lost[:5]}"
    assert twice == [], f"{len(twice)} jobs started twice, e.g. {twice[:5]}; the worker said:\n" + said(service)
    # the cron entry: one run per job id, and never two enqueues for one tick (2 s apart, give or take a beat)
    ids = [job_id for job_id, _ in cron]
    assert len(ids) == len(set(ids))
    times = sorted(float(at) for _, at in cron)
    assert min(b - a for a, b in itertools.pairwise(times)) > 1.0, times
    # how long no job ended around the failover
    after = [at for at in ended if at >= started]
    pause = (after[0] - started) if after else float("inf")
    gaps = [b - a for a, b in itertools.pairwise(ended) if b >= started]
    return len(lost), len(twice), max([pause, *gaps])


def scenario(name: str, group: SentinelGroup, service: Processes, records: redis.Redis, kill: bool) -> str | None:
    """Run one failover, check it, add its row to the fault-injection table; what the worker replayed."""
    began = time.monotonic()
    seen, started = run_failover(group, service, records, kill)
    lost, twice, pause = check(seen, started, service)
    replay = replayed(service)
    note = f"no process exited; longest pause in finished jobs {pause:.1f} s; claims replayed: {replay or 'none'}"
    report(name, JOBS + SCHEDULED, lost, twice, time.monotonic() - began, note)
    return replay


@pytest.mark.usefixtures("producer")
def test_a_sentinel_failover_under_load_loses_nothing_and_stops_nothing(
    group: SentinelGroup, service: Processes, records: tuple[redis.Redis, str]
) -> None:
    name = "16. `SENTINEL FAILOVER` with 1,000 jobs in flight, 20 scheduled, a cron entry every 2 s; service worker, "
    replay = scenario(name + "beat, Flower", group, service, records[0], kill=False)
    # the old master was alive: the fetch left it between two fetches and sent its recent claims again
    assert replay is not None, "the worker's fetch never left the replaced master"


@pytest.mark.usefixtures("producer")
def test_a_killed_master_loses_nothing_the_replica_had_and_stops_nothing(
    group: SentinelGroup, service: Processes, records: tuple[redis.Redis, str]
) -> None:
    # the connection is lost (the consumer reconnects): there is no replaced master to leave between two fetches
    name = "17. `kill -9` the master (down-after 1 s) with 1,000 jobs in flight, 20 scheduled, cron every 2 s"
    scenario(name, group, service, records[0], kill=True)
