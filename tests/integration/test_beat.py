"""The schedule end to end: real `celery -A app beat` processes, a real worker, the real Redis."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
import redis
from celery import Celery
from redbeat.schedulers import RedBeatSchedulerEntry

import conveyor
from conveyor.broker.worker_file import WorkerConfig, apply
from conveyor.schedule.beat import Entry, read_entries
from conveyor.testing import worker_thread
from tests.conftest import TEST_REDIS_URL, require_redis
from tests.integration.services import Service
from tests.jobs import Recorder

pytestmark = [pytest.mark.redis, pytest.mark.processes]
ROOT = Path(__file__).resolve().parents[2]
BEAT_REDIS_URL = urlunsplit(urlsplit(TEST_REDIS_URL)._replace(path="/12"))

TICK = """
tick:
  every: "1 second"
  job: tests.jobs.TickJob
  priority: 2
"""
CANARY = """
canary:
  every: "1 second"
  job: tests.jobs.TickJob
  kwargs: {label: canary}
"""


def Beat(schedule_file: Path) -> Service:  # noqa: N802 - reads like the class it stands for
    """A `celery -A app beat` process on the beat database, with its schedule file."""
    return Service.celery(
        "beat", "--loglevel=INFO", env={"REDIS_URL": BEAT_REDIS_URL, "SCHEDULE_FILE": str(schedule_file)}
    )


@pytest.fixture
def beat_redis(celery_app: Celery) -> Iterator[redis.Redis]:
    require_redis()
    client = redis.Redis.from_url(BEAT_REDIS_URL, decode_responses=True)
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


@pytest.fixture
def beat_app(beat_redis: redis.Redis, celery_app: Celery) -> Iterator[Celery]:
    """An app on the beat database, as the CLI and the test worker see it."""
    app = conveyor.configure(
        Celery("beat-tests", set_as_current=False),
        default=False,
        broker_url=BEAT_REDIS_URL,
        result_backend=BEAT_REDIS_URL,
    )
    apply(app, WorkerConfig(queues=["default"]))
    yield app
    celery_app.set_current()


@pytest.fixture
def worker(beat_app: Celery, recorder: Recorder) -> Iterator[Recorder]:
    with worker_thread(beat_app):
        yield recorder


@pytest.fixture
def beats() -> Iterator[list[Service]]:
    started: list[Service] = []
    yield started
    for beat in started:
        beat.stop()


def sync(schedule_file: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "REDIS_URL": BEAT_REDIS_URL, "SCHEDULE_FILE": str(schedule_file)}
    return subprocess.run(
        [sys.executable, "-m", "celery", "-A", "app", "schedule", "sync"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def redbeat_state(client: redis.Redis) -> dict[str, Any]:
    """Everything redbeat keeps, to compare before and after."""
    return {key: client.dump(key) for key in sorted(client.keys("redbeat*"))}


def test_an_every_1_second_entry_runs_the_job_3_times_within_6_seconds(
    tmp_path: Path, worker: Recorder, beats: list[Service]
) -> None:
    schedule = tmp_path / "schedule.yaml"
    schedule.write_text(TICK)
    beats.append(Beat(schedule))
    beats[0].wait_for("synced")

    records = worker.wait_count("tick", 3, timeout_s=6)

    assert len({r["job_id"] for r in records}) == 3  # three jobs, enqueued through the Job API
    assert {(r["queue"], r["priority"]) for r in records} == {("default", 2)}


def test_removing_an_entry_and_syncing_stops_it_and_deletes_its_keys(
    tmp_path: Path, worker: Recorder, beats: list[Service], beat_redis: redis.Redis
) -> None:
    schedule = tmp_path / "schedule.yaml"
    schedule.write_text(TICK + CANARY)
    beats.append(Beat(schedule))
    worker.wait_count("tick", 1)
    assert beat_redis.exists("redbeat:tick")

    schedule.write_text(CANARY)
    result = sync(schedule)

    assert result.returncode == 0, result.stderr
    # beat reads its file again when it changes: it may have deleted the entry itself before this sync
    assert re.search(r"1 unchanged, [01] deleted", result.stdout), result.stdout
    assert not beat_redis.exists("redbeat:tick")
    assert beat_redis.zscore("redbeat::schedule", "redbeat:tick") is None
    ticks_at_sync = len(worker.of("tick"))
    canaries_at_sync = len(worker.of("canary"))
    worker.wait_count("canary", canaries_at_sync + 3)  # beat has ticked several times since
    assert len(worker.of("tick")) <= ticks_at_sync + 1  # at most one already enqueued before the sync


def test_beat_reads_its_file_again_when_it_changes_and_an_invalid_one_changes_nothing(
    tmp_path: Path, worker: Recorder, beats: list[Service]
) -> None:
    schedule = tmp_path / "schedule.yaml"
    schedule.write_text(TICK)
    beat = Beat(schedule)
    beats.append(beat)
    worker.wait_count("tick", 1)
    # When an entry is added to the file while beat runs, it runs without a restart
    schedule.write_text(TICK + CANARY)
    worker.wait_count("canary", 1)
    # And when the file is saved invalid, beat says why and goes on with the schedule it had
    start = len(beat.lines)
    schedule.write_text(CANARY + "broken:\n  every: often\n  job: tests.jobs.TickJob\n")
    beat.wait_for("changed but is invalid; the schedule in Redis stays as it was", since=start)
    canaries = len(worker.of("canary"))
    worker.wait_count("canary", canaries + 2)
    assert beat.process.poll() is None
    assert "broken.every: expected a duration" in beat.output


def test_an_entry_deleted_while_beat_sends_it_is_not_written_back_by_the_run(
    tmp_path: Path, beat_app: Celery, beat_redis: redis.Redis
) -> None:
    # Given an entry beat has read (it is about to send it), and a sync that deletes it meanwhile
    schedule = tmp_path / "schedule.yaml"
    schedule.write_text(TICK + CANARY)
    assert sync(schedule).returncode == 0
    read_by_beat = {entry.name: entry for entry in read_entries(beat_app)}
    schedule.write_text(CANARY)
    assert sync(schedule).returncode == 0
    # When beat records the run (redbeat's next(entry) after sending it)
    ran = next(read_by_beat["tick"])
    # Then nothing of the deleted entry is back: no meta-only hash, not in the schedule
    assert ran.total_run_count == read_by_beat["tick"].total_run_count + 1
    assert not beat_redis.exists("redbeat:tick")
    assert beat_redis.zscore("redbeat::schedule", "redbeat:tick") is None
    # And an entry that is still defined has its run and its next due time recorded, as redbeat does
    canary = read_by_beat["canary"]
    after = next(canary)
    assert Entry.decode_meta(beat_redis.hget("redbeat:canary", "meta"))["total_run_count"] == after.total_run_count
    # redbeat's due_at reads the clock (last run + remaining estimate from now), and the score is whole
    # seconds: the score written inside next() can be one second above one computed after it, never below
    recorded = beat_redis.zscore("redbeat::schedule", "redbeat:canary")
    assert recorded is not None
    assert after.score <= recorded <= after.score + 1


def test_entries_created_through_the_redbeat_api_survive_a_sync(
    tmp_path: Path, beat_app: Celery, beat_redis: redis.Redis
) -> None:
    schedule = tmp_path / "schedule.yaml"
    schedule.write_text(TICK)
    assert sync(schedule).returncode == 0
    from celery.schedules import schedule as every

    RedBeatSchedulerEntry("made_at_runtime", "tests.jobs.TickJob", every(3600), app=beat_app).save()

    schedule.write_text(CANARY)
    assert sync(schedule).returncode == 0

    assert beat_redis.exists("redbeat:made_at_runtime")
    assert beat_redis.zscore("redbeat::schedule", "redbeat:made_at_runtime") is not None
    assert not beat_redis.exists("redbeat:tick")
    assert beat_redis.exists("redbeat:canary")


def test_an_unchanged_entry_keeps_its_last_run_across_a_sync(
    tmp_path: Path, worker: Recorder, beats: list[Service], beat_redis: redis.Redis
) -> None:
    schedule = tmp_path / "schedule.yaml"
    schedule.write_text(TICK)
    beats.append(Beat(schedule))
    worker.wait_count("tick", 2)
    beats[0].stop()
    meta = beat_redis.hget("redbeat:tick", "meta")

    result = sync(schedule)

    assert "1 unchanged" in result.stdout
    assert beat_redis.hget("redbeat:tick", "meta") == meta


def test_an_invalid_file_changes_nothing_and_beat_refuses_to_start(
    tmp_path: Path, beat_redis: redis.Redis, beats: list[Service]
) -> None:
    schedule = tmp_path / "schedule.yaml"
    schedule.write_text(TICK + CANARY)
    assert sync(schedule).returncode == 0
    before = redbeat_state(beat_redis)

    schedule.write_text(CANARY + "broken:\n  cron: '0 2 * *'\n  job: tests.jobs.TickJob\n")
    result = sync(schedule)

    assert result.returncode == 1
    assert f"{schedule}: broken.cron: expected 5 fields" in result.stderr
    assert "nothing was changed" in result.stderr
    assert redbeat_state(beat_redis) == before

    beat = Beat(schedule)
    beats.append(beat)
    assert beat.process.wait(timeout=30) != 0
    beat.wait_for("broken.cron: expected 5 fields")
    assert redbeat_state(beat_redis) == before


def test_a_standby_beat_with_another_file_changes_nothing_until_it_takes_over(
    tmp_path: Path, worker: Recorder, beats: list[Service], beat_redis: redis.Redis
) -> None:
    first_file, second_file = tmp_path / "first.yaml", tmp_path / "second.yaml"
    first_file.write_text(CANARY)
    second_file.write_text(TICK)
    first = Beat(first_file)
    beats.append(first)
    first.wait_for("synced")

    standby = Beat(second_file)
    beats.append(standby)
    standby.wait_for("syncing once the lock is held")  # it validated its file and now waits for the lock
    canaries = len(worker.of("canary"))
    worker.wait_count("canary", canaries + 3)

    assert standby.process.poll() is None
    assert not beat_redis.exists("redbeat:tick")
    assert not any("synced" in line for line in standby.lines)

    first.stop()  # releases the lock: the standby takes over and syncs its own file
    standby.wait_for("synced", timeout_s=40)
    assert beat_redis.exists("redbeat:tick")
    assert not beat_redis.exists("redbeat:canary")
    worker.wait_count("tick", 1)
