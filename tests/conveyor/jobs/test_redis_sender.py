"""``conveyor.jobs.redis_sender``: the bulk sender straight to kombu's Redis lists.

Where it applies; a chunk's messages in their queue with one wake-up token per job; a ``@unique``
job refused in a chunk reported with its holder; Celery's publish signals seen as ``publish`` would send them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import redis
from celery import Celery, signals

from conveyor import Job, unique
from conveyor.jobs.adapters import CeleryAdapter, use_adapter
from conveyor.jobs.redis_sender import LeanSender, _lean_redis_sender
from conveyor.jobs.serialized import SerializedJob
from conveyor.keys import wake_key
from conveyor.testing import TestAdapter
from tests.jobs import CountJob
from tests.redis_reading import queued_messages


@unique(within=60)
class OncePerKeyJob(Job):
    def perform(self, n: int) -> None: ...


def resolved(*jobs: Any) -> list[SerializedJob]:
    """The jobs with their queue and times resolved (enqueued to a test adapter), serialized."""
    with use_adapter(TestAdapter()):
        return [job.enqueue().serialize() for job in jobs]


@pytest.fixture
def sender(redis_client: redis.Redis, celery_app: Celery) -> LeanSender:
    return LeanSender(celery_app, CeleryAdapter())


@pytest.fixture
def publishes() -> Iterator[dict[str, list[dict[str, Any]]]]:
    """What Celery's before/after_task_publish receivers are sent, while connected."""
    seen: dict[str, list[dict[str, Any]]] = {"before": [], "after": []}

    def before(sender: str, **kwargs: Any) -> None:
        seen["before"].append({"sender": sender, **kwargs})

    def after(sender: str, **kwargs: Any) -> None:
        seen["after"].append({"sender": sender, **kwargs})

    signals.before_task_publish.connect(before)
    signals.after_task_publish.connect(after)
    yield seen
    signals.before_task_publish.disconnect(before)
    signals.after_task_publish.disconnect(after)


@pytest.mark.parametrize(
    ("broker", "sent_events", "applies"),
    [
        ("redis://127.0.0.1:6379/0", False, True),
        ("redis://127.0.0.1:6379/0", True, False),
        ("amqp://guest@127.0.0.1//", False, False),
    ],
)
def test_the_lean_sender_applies_to_redis_brokers_without_task_sent_events(
    broker: str, sent_events: bool, applies: bool
) -> None:
    # Given an app on a broker, with or without task-sent events / When the bulk sender is asked for
    app = Celery("sender", set_as_current=False, broker=broker)
    app.conf.task_send_sent_event = sent_events

    # Then there is one for Redis alone, and only when no event must be sent per message
    assert isinstance(_lean_redis_sender(app, CeleryAdapter()), LeanSender) is applies


def test_a_chunk_lands_in_its_queue_in_order_with_a_wake_token_per_job(
    sender: LeanSender, redis_client: redis.Redis
) -> None:
    # Given three jobs prepared (every message built before anything is sent)
    jobs = resolved(CountJob(1), CountJob(2), CountJob(3))
    entries = sender.prepare(jobs)
    assert queued_messages(redis_client, "default") == []

    # When the chunk is sent
    refused = sender.send(entries)

    # Then no job was refused, the queue holds them oldest first, and idle workers get a token each
    assert refused == {}
    assert [m["headers"]["id"] for m in queued_messages(redis_client, "default")] == [job.job_id for job in jobs]
    assert redis_client.llen(wake_key("default")) == 3


def test_a_unique_job_refused_in_a_chunk_is_returned_with_its_holder(
    sender: LeanSender, redis_client: redis.Redis
) -> None:
    # Given two @unique jobs of one key and one of another, in one chunk
    first, duplicate, other = resolved(OncePerKeyJob(1), OncePerKeyJob(1), OncePerKeyJob(2))

    # When the chunk is sent
    refused = sender.send(sender.prepare([first, duplicate, other]))

    # Then the duplicate is reported with the job holding the lock, and only the others were queued
    assert refused == {duplicate.job_id: first.job_id}
    queued = {m["headers"]["id"] for m in queued_messages(redis_client, "default")}
    assert queued == {first.job_id, other.job_id}


def test_publish_signals_see_each_job_as_celerys_publish_would_send_it(
    sender: LeanSender, redis_client: redis.Redis, publishes: dict[str, list[dict[str, Any]]]
) -> None:
    # Given receivers of Celery's publish signals (the template path then steps aside)
    jobs = resolved(CountJob(1), CountJob(2))

    # When the jobs are prepared and sent
    sender.send(sender.prepare(jobs))

    # Then each job was announced before and after, with its task name, queue and id
    ids = [job.job_id for job in jobs]
    assert [(p["sender"], p["routing_key"], p["headers"]["id"]) for p in publishes["before"]] == [
        ("tests.jobs.CountJob", "default", job_id) for job_id in ids
    ]
    assert [(p["sender"], p["routing_key"], p["headers"]["id"]) for p in publishes["after"]] == [
        ("tests.jobs.CountJob", "default", job_id) for job_id in ids
    ]
    assert [m["headers"]["id"] for m in queued_messages(redis_client, "default")] == ids
