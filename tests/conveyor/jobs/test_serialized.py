"""``conveyor.jobs.serialized``: ``SerializedJob``, what ``job.serialize()`` hands every adapter.

Its fields for a job given ``set(queue=, priority=, wait=)``, its header, its arguments as they
travel, and which jobs a bulk template can express (``templatable``, ``kind``).
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from conveyor import SerializationError
from conveyor.jobs.serialized import SerializedJob
from conveyor.serialization import deserialize_arguments
from conveyor.testing import EnqueuedJobs
from tests.jobs import EchoJob, RetryingJob, SecretJob

WHEN = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)


def enqueued(job: Any) -> SerializedJob:
    """The job enqueued (to the test adapter the fixture installs), then serialized as the adapter saw it."""
    job.enqueue()
    return job.serialize()  # type: ignore[no-any-return]


def test_a_job_set_to_a_queue_priority_and_wait_carries_them(enqueued_jobs: EnqueuedJobs) -> None:
    # Given a job with arguments and set(queue=, priority=, wait=)
    job = EchoJob(7, (1, 2), when=WHEN).set(queue="low_priority", priority=2, wait=60)

    # When it is enqueued and serialized
    serialized = enqueued(job)

    # Then it carries its identity, destination and times as resolved, and its arguments as given
    assert serialized.job_class is EchoJob
    assert serialized.job_id == job.job_id
    assert serialized.task == "tests.jobs.EchoJob"
    assert (serialized.queue, serialized.priority, serialized.executions) == ("low_priority", 2, 0)
    assert serialized.enqueued_at == job.enqueued_at
    assert job.enqueued_at is not None
    assert serialized.scheduled_at == job.enqueued_at + dt.timedelta(seconds=60)
    assert (serialized.arguments, serialized.keyword_arguments) == ((7, (1, 2)), {"when": WHEN})
    assert (serialized.log_arguments, serialized.controls, serialized.exception_executions) == (None, {}, {})
    assert (serialized.error, serialized.progress, serialized.resumptions, serialized.progress_note) == (
        None,
        None,
        0,
        "",
    )


def test_the_arguments_travel_as_json_and_come_back_with_their_types(enqueued_jobs: EnqueuedJobs) -> None:
    # Given arguments JSON has no type for (a tuple, an aware datetime)
    serialized = enqueued(EchoJob(7, (1, 2), when=WHEN))

    # When they are sent as JSON and rebuilt as a worker does
    args, kwargs = json.loads(json.dumps([serialized.args, serialized.kwargs]))
    rebuilt_args, rebuilt_kwargs = deserialize_arguments(args, kwargs)

    # Then the travelling form is not the tuple itself, and the job gets exactly what it was given
    assert serialized.args[0] == 7
    assert serialized.args[1] != [1, 2]
    assert rebuilt_args == (7, (1, 2))
    assert type(rebuilt_args[1]) is tuple
    assert rebuilt_kwargs == {"when": WHEN}


def test_the_header_carries_the_times_as_iso_text_and_the_destination(enqueued_jobs: EnqueuedJobs) -> None:
    # Given a scheduled job on a queue with a priority
    job = EchoJob(1).set(queue="low_priority", priority=2, wait=60)
    serialized = enqueued(job)
    assert job.enqueued_at is not None
    assert job.scheduled_at is not None

    # When its message header is built / Then it holds what a worker reads back, and no retry or progress
    assert serialized.header() == {
        "enqueued_at": job.enqueued_at.isoformat(),
        "scheduled_at": job.scheduled_at.isoformat(),
        "queue": "low_priority",
        "priority": 2,
        "exception_executions": {},
    }


def test_a_retry_carries_its_error_counters_and_executions(enqueued_jobs: EnqueuedJobs) -> None:
    # Given a job whose first run fails with an error retry_on retries
    job = RetryingJob(1)

    # When it runs in this process (the retry is enqueued) and is serialized
    job.perform_now()
    serialized = job.serialize()

    # Then the retry's error, counter and executions travel with it, and no template can express it
    assert serialized.error == "Flaky: failure 1"
    assert serialized.exception_executions == {"RetryingJob[Flaky]": 1}
    assert serialized.executions == 1
    assert serialized.header()["error"] == "Flaky: failure 1"
    assert serialized.templatable is False


def test_only_a_job_set_apart_by_id_arguments_and_time_alone_is_templatable(enqueued_jobs: EnqueuedJobs) -> None:
    # Given two plain jobs of one class and queue, one on another queue, and a scheduled one
    first, second = enqueued(EchoJob(1)), enqueued(EchoJob("two", flag=True))
    elsewhere = enqueued(EchoJob(1).set(queue="low_priority"))
    scheduled = enqueued(EchoJob(1).set(wait=60))

    # Then plain jobs share a kind; another queue is another kind; a scheduled job has no template
    assert [first.templatable, second.templatable, elsewhere.templatable] == [True, True, True]
    assert first.kind == second.kind == (EchoJob, first.queue, first.priority, 0, None)  # no batch
    assert elsewhere.kind != first.kind
    assert scheduled.templatable is False


def test_the_label_names_the_class_and_the_job_id(enqueued_jobs: EnqueuedJobs) -> None:
    serialized = enqueued(SecretJob("hunter2"))
    assert serialized.label == f"SecretJob (Job ID: {serialized.job_id})"
    assert serialized.log_arguments is False  # the class's declaration, for the adapters to honour


def test_an_argument_that_cannot_travel_fails_when_serialized_naming_the_job_and_the_argument() -> None:
    # Given a job with an argument no serializer knows
    job = EchoJob(1, object())

    # When it is serialized / Then the error names the job, its id and the argument's position and type
    with pytest.raises(SerializationError) as refused:
        job.serialize()

    assert str(refused.value).startswith(f"EchoJob (Job ID: {job.job_id}): argument 2 is a builtins.object")
