"""``conveyor.jobs.bulk_template``: ``perform_all_later``'s messages from a template, byte for byte the full path's.

Every template-built envelope must equal what Celery's full path (kombu's message preparation) builds for
the same job, but for its delivery tag; a job the template cannot express gets no envelope. Needs Redis
(kombu's Redis channel builds the full path's envelope).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Iterator
from typing import Any, cast

import pytest
import redis
from celery import Celery

from conveyor import perform_all_later
from conveyor.jobs.adapters import CeleryAdapter, use_adapter
from conveyor.jobs.bulk_template import Templates
from conveyor.jobs.redis_sender import _redis_envelope
from conveyor.jobs.serialized import SerializedJob
from conveyor.testing import TestAdapter
from tests.jobs import EchoJob, RetryingJob, SecretJob
from tests.redis_reading import queue_keys

UTC = dt.UTC


@pytest.fixture
def channel(redis_client: redis.Redis, celery_app: Celery) -> Iterator[Any]:
    """A kombu channel on the test Redis, as perform_all_later's sender holds one."""
    with celery_app.producer_or_acquire(None) as producer:
        yield producer.channel


def resolved(*jobs: Any) -> list[SerializedJob]:
    """The jobs with their queue and times resolved (enqueued to a test adapter), serialized."""
    with use_adapter(TestAdapter()):
        return [job.enqueue().serialize() for job in jobs]


def without_tag(text: str) -> dict[str, Any]:
    envelope = json.loads(text)
    del envelope["properties"]["delivery_tag"]
    return cast(dict[str, Any], envelope)


def _normalized_messages(client: redis.Redis, queue: str) -> dict[str, tuple[str, str]]:
    """{job id: (list key, message text with its id, delivery tag and enqueue time replaced)}, byte for byte."""
    found = {}
    for key in queue_keys(queue):
        for raw in client.lrange(key, 0, -1):
            assert isinstance(raw, bytes)  # the client does not decode: these are the bytes in Redis
            text = raw.decode()
            message = json.loads(text)
            job_id = message["headers"]["id"]
            for value, stand_in in (
                (job_id, "<id>"),
                (message["properties"]["delivery_tag"], "<tag>"),
                (message["headers"]["conveyor"]["enqueued_at"], "<enqueued_at>"),
            ):
                text = text.replace(value, stand_in)
            found[job_id] = (key, text)
    return found


@pytest.mark.parametrize(
    ("job_class", "args", "kwargs", "options"),
    [
        (EchoJob, ({"a": (1, 2)},), {}, {"priority": 3}),
        (EchoJob, ('quote " back\\slash 100% é ✓ \n',), {"when": dt.datetime(2026, 1, 2, tzinfo=UTC)}, {}),
        (SecretJob, ("hunter2",), {}, {"queue": "low_priority"}),
    ],
)
def test_the_bulk_path_sends_the_same_bytes_as_a_single_enqueue(
    redis_client: redis.Redis, job_class: Any, args: tuple[Any, ...], kwargs: dict[str, Any], options: dict[str, Any]
) -> None:
    # perform_all_later builds the first job of each kind through Celery's full path and the others
    # from a template (conveyor.jobs.bulk_template): every one must be what perform_later sends.
    queue = options.get("queue", "default")
    single = job_class.set(**options).perform_later(*args, **kwargs)
    bulk = [job_class(*args, **kwargs).set(**options) for _ in range(3)]
    assert perform_all_later(bulk) == 3

    messages = _normalized_messages(redis_client, queue)
    expected = messages[single.job_id]
    for job in bulk:
        assert messages[job.job_id] == expected
    tags = {
        json.loads(cast(bytes, redis_client.lindex(expected[0], i)))["properties"]["delivery_tag"] for i in range(4)
    }
    assert len(tags) == 4


def test_each_templated_envelope_is_the_full_paths_with_the_jobs_own_id_arguments_and_time(
    celery_app: Celery, channel: Any
) -> None:
    # Given jobs of one kind with different arguments and enqueue times
    jobs = [
        dataclasses.replace(job, enqueued_at=dt.datetime(2026, 1, day, 12, tzinfo=UTC))
        for day, job in enumerate(resolved(EchoJob(1), EchoJob("two", 'with "quotes" and 100%'), EchoJob(flag=None)), 1)
    ]
    adapter = CeleryAdapter()
    templates = Templates(celery_app, channel, adapter.message, _redis_envelope)

    for job in jobs:
        # When the template builds the job's envelope, and the full path builds it too
        key, text = cast(tuple[str, str], templates.envelope(job))
        full_key, full_text = _redis_envelope(celery_app, channel, *adapter.message(celery_app, job))

        # Then the list key and the JSON text are the same but for the delivery tag
        assert key == full_key
        tag = json.loads(text)["properties"]["delivery_tag"]
        full_tag = json.loads(full_text)["properties"]["delivery_tag"]
        assert text.replace(tag, "<tag>") == full_text.replace(full_tag, "<tag>")
        assert without_tag(text)["headers"]["id"] == job.job_id


def test_a_job_a_template_cannot_express_gets_no_envelope(celery_app: Celery, channel: Any, enqueued_jobs: Any) -> None:
    # Given a scheduled job and a retried one (their header differs from their kind's)
    [scheduled] = resolved(EchoJob(1).set(wait=60))
    retried = RetryingJob(1)
    retried.perform_now()  # fails once: the retry is enqueued with its error and counter
    templates = Templates(celery_app, channel, CeleryAdapter().message, _redis_envelope)

    # When their envelopes are asked for / Then none is made: they take the full path
    assert templates.envelope(scheduled) is None
    assert templates.envelope(retried.serialize()) is None
