"""What perform_later, set(...) and perform_all_later put into a real Redis, on the pack's app.

``ReportGenerationJob`` is ``tests.jobs``'s (design.md's declarations: ``queue_as = "low_priority"``,
``priority = 5``), not the reference service's.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from typing import Any

import pytest
import redis

from conveyor import SerializationError, perform_all_later
from tests.jobs import CountJob, EchoJob, OrderedJob, Recorder, ReportGenerationJob, SecretJob
from tests.redis_reading import queue_keys, queued_messages, scheduled_entries

pytestmark = pytest.mark.redis
UTC = dt.UTC


class Report:
    """Stands in for a model row in the quoted design examples."""

    id = 42


report = Report()
reports = [Report() for _ in range(3)]


def test_perform_later_sends_one_message_whose_task_id_is_the_job_id(redis_client: redis.Redis) -> None:
    job = ReportGenerationJob.perform_later(report.id)  # -> job instance (job.job_id, …)

    assert job.successfully_enqueued is True
    [message] = queued_messages(redis_client, "low_priority")  # queue_as = "low_priority"
    headers = message["headers"]
    assert headers["id"] == job.job_id
    assert headers["task"] == "tests.jobs.ReportGenerationJob"
    assert message["decoded_body"][0] == [42]
    assert message["properties"]["priority"] == 5  # priority = 5
    assert headers["argsrepr"] == "(42,)"
    meta = headers["conveyor"]
    assert meta["queue"] == "low_priority"
    assert meta["priority"] == 5
    assert dt.datetime.fromisoformat(meta["enqueued_at"]) == job.enqueued_at
    assert meta["scheduled_at"] is None


def test_set_wait_keeps_the_job_in_the_scheduled_set_until_due(redis_client: redis.Redis) -> None:
    before = dt.datetime.now(UTC)
    job = ReportGenerationJob.set(wait=3600).perform_later(report.id)  # seconds, or a timedelta

    assert queued_messages(redis_client, "low_priority") == []  # not in a queue, so in no worker's memory
    [entry] = scheduled_entries(redis_client)
    due = dt.datetime.fromtimestamp(entry["due"], UTC)
    assert before + dt.timedelta(seconds=3600) <= due <= dt.datetime.now(UTC) + dt.timedelta(seconds=3600)
    assert job.scheduled_at is not None
    assert abs((job.scheduled_at - due).total_seconds()) < 0.001
    assert entry["message"]["headers"]["id"] == job.job_id
    assert entry["message"]["headers"]["eta"] is None  # runs as soon as it is moved to its queue
    assert entry["message"]["headers"]["conveyor"]["scheduled_at"] == job.scheduled_at.isoformat()
    assert entry["key"] == "low_priority\x06\x165"  # the queue's list for priority 5


def test_set_wait_until_schedules_the_job_at_that_time(redis_client: redis.Redis) -> None:
    tomorrow_noon = dt.datetime.combine(dt.date.today() + dt.timedelta(days=1), dt.time(12), tzinfo=UTC)
    ReportGenerationJob.set(wait_until=tomorrow_noon).perform_later(report.id)  # aware datetime

    [entry] = scheduled_entries(redis_client)
    assert entry["due"] == tomorrow_noon.timestamp()


def test_a_short_wait_stays_a_celery_eta_message(redis_client: redis.Redis) -> None:
    job = ReportGenerationJob.set(wait=2).perform_later(report.id)  # under conveyor_scheduled_threshold (5 s)

    assert scheduled_entries(redis_client) == []
    [message] = queued_messages(redis_client, "low_priority")
    assert dt.datetime.fromisoformat(message["headers"]["eta"]) == job.scheduled_at


def test_set_queue_and_priority_override_the_class_declaration(redis_client: redis.Redis) -> None:
    ReportGenerationJob.set(queue="high_priority", priority=0).perform_later(report.id)

    assert queued_messages(redis_client, "low_priority") == []
    [message] = queued_messages(redis_client, "high_priority")
    assert message["properties"]["priority"] == 0
    assert message["headers"]["conveyor"]["queue"] == "high_priority"


def test_without_declarations_the_app_default_queue_is_used(redis_client: redis.Redis) -> None:
    job = EchoJob.perform_later(1)
    assert job.queue_name == "default"
    assert len(queued_messages(redis_client, "default")) == 1


def test_an_unserializable_argument_fails_at_enqueue_and_nothing_reaches_redis(redis_client: redis.Redis) -> None:
    with pytest.raises(SerializationError, match=r"EchoJob \(Job ID: .*\): argument 2 is a builtins.object"):
        EchoJob.perform_later(1, object())
    assert redis_client.keys("*") == []


def test_enqueue_callbacks_run_around_the_send(redis_client: redis.Redis, recorder: Recorder) -> None:
    job = OrderedJob.perform_later("later")
    assert [r["name"] for r in recorder.of("cb")] == [
        "base.before_enqueue",
        "own.before_enqueue",
        "own.around_enqueue:before",
        "own.around_enqueue:after",
        "own.after_enqueue",
    ]
    assert [m["headers"]["id"] for m in queued_messages(redis_client, "default")] == [job.job_id]


def test_perform_all_later_sends_every_job_with_one_round_trip_per_batch(
    redis_client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    from redis.connection import AbstractConnection

    sends: list[Any] = []
    original: Callable[[Any, Any, bool], None] = AbstractConnection.send_packed_command

    def counting(self: Any, command: Any, check_health: bool = True) -> None:
        sends.append(command)
        original(self, command, check_health)

    CountJob.perform_later(-1)  # the first publish declares the queue; not part of the batch
    redis_client.delete(*queue_keys("default"))
    monkeypatch.setattr(AbstractConnection, "send_packed_command", counting)

    count = perform_all_later([CountJob(n) for n in range(2500)], batch_size=1000)

    monkeypatch.undo()
    assert count == 2500
    # Round trips that carry jobs (a connection the pool opens meanwhile sends HELLO/SELECT, not jobs).
    batches = [command for command in sends if any(b"LPUSH" in part for part in command)]
    assert len(batches) == 3  # 1000 + 1000 + 500
    assert sorted(m["decoded_body"][0][0] for m in queued_messages(redis_client, "default")) == list(range(2500))


def test_perform_all_later_serializes_everything_before_sending_anything(redis_client: redis.Redis) -> None:
    jobs = [EchoJob(1), EchoJob(object()), EchoJob(3)]
    with pytest.raises(SerializationError):
        perform_all_later(jobs)
    assert redis_client.keys("*") == []
    assert [job.successfully_enqueued for job in jobs] == [False, False, False]


def test_perform_all_later_honours_each_jobs_set_options(redis_client: redis.Redis) -> None:
    perform_all_later([ReportGenerationJob(r.id) for r in reports])  # bulk: one Redis round trip per batch
    perform_all_later([EchoJob(1).set(queue="high_priority", priority=0)])
    assert len(queued_messages(redis_client, "low_priority")) == 3
    [urgent] = queued_messages(redis_client, "high_priority")
    assert urgent["properties"]["priority"] == 0


def test_log_arguments_false_hides_arguments_from_logs_and_flower(
    redis_client: redis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="conveyor")
    job = SecretJob.perform_later("hunter2")
    EchoJob.perform_later("visible")

    [message] = [m for m in queued_messages(redis_client, "default") if m["headers"]["id"] == job.job_id]
    assert message["headers"]["argsrepr"] == "[FILTERED]"
    assert message["decoded_body"][0] == ["hunter2"]  # the job still gets its argument
    lines = [r.getMessage() for r in caplog.records]
    assert f"[SecretJob] [{job.job_id}] Enqueued SecretJob (Job ID: {job.job_id}) to default" in lines
    assert not any("hunter2" in line for line in lines)
    assert any(line.endswith("with arguments: 'visible'") for line in lines)
