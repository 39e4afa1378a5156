"""What Rails users reach for across modules: ``retry_job``, and argument types that travel exactly.

(A callable ``priority`` is in ``test_priority``; ``result = yield`` in an around callback in ``test_callbacks``.)
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from conveyor import DeserializationError, Job, retry_on
from conveyor.serialization import deserialize, serialize
from conveyor.testing import EnqueuedJobs


def test_retry_job_from_perform_ends_the_execution_and_enqueues_it_again(enqueued_jobs: EnqueuedJobs) -> None:
    after: list[str] = []

    class PollingJob(Job):
        def perform(self) -> None:
            self.retry_job(wait=dt.timedelta(seconds=30), queue="polling", priority=2)
            after.append("not reached")

    job = PollingJob()
    job.perform_now()
    entry = enqueued_jobs.assert_enqueued_with(job=PollingJob, queue="polling", priority=2)
    assert entry.job_id == job.job_id
    assert entry.at is not None
    assert abs((entry.at - dt.datetime.now(dt.UTC)).total_seconds() - 30) < 2
    assert after == []


def test_retry_job_from_a_retry_on_handler(enqueued_jobs: EnqueuedJobs) -> None:
    class RateLimited(Exception):
        pass

    @retry_on(RateLimited, attempts=1, handler=lambda job, error: job.retry_job(wait=60, queue="slow"))
    class ApiJob(Job):
        def perform(self) -> None:
            raise RateLimited("429")

    assert ApiJob.perform_now() is None
    entry = enqueued_jobs.assert_enqueued_with(job=ApiJob, queue="slow")
    assert entry.meta["error"] == "RateLimited: 429"


@pytest.mark.parametrize(
    "value",
    [range(3, 30, 4), {1, 2, 3}, frozenset({"a", "b"}), b"\x00\xffbinary", {"nested": [{1}, b"x", range(2)]}],
    ids=["range", "set", "frozenset", "bytes", "nested"],
)
def test_more_argument_types_round_trip_exactly(value: Any) -> None:
    back = deserialize(json.loads(json.dumps(serialize(value))))
    assert back == value
    assert type(back) is type(value)


def test_a_str_subclass_without_a_serializer_travels_as_str(enqueued_jobs: EnqueuedJobs) -> None:
    class Slug(str):
        pass

    seen: list[Any] = []

    class SlugJob(Job):
        def perform(self, slug: str) -> None:
            seen.append(slug)

    SlugJob.perform_later(Slug("hello-world"))
    enqueued_jobs.perform_all()
    assert seen == ["hello-world"]
    assert type(seen[0]) is str


def test_a_set_of_unhashable_items_from_the_broker_is_a_deserialization_error() -> None:
    with pytest.raises(DeserializationError, match="cannot rebuild"):
        deserialize({"_cj": "set", "v": [[1, 2]]})
    with pytest.raises(DeserializationError, match="cannot rebuild"):
        deserialize({"_cj": "bytes", "v": "not base64!"})
