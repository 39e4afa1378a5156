"""``conveyor.jobs.adapters``: what ``perform_later`` hands a job to, and the Celery message it becomes.

``use_adapter`` / ``current_adapter``; ``CeleryAdapter.message`` (the test adapter records the same
serialized form the Celery adapter sends); a broker that is down is an ``EnqueueError``.
"""

from __future__ import annotations

import datetime as dt
import time

import pytest
from celery import Celery

import conveyor
from conveyor import EnqueueError, perform_all_later
from conveyor.devserver import free_port
from conveyor.jobs.adapters import CeleryAdapter, current_adapter, use_adapter
from conveyor.testing import TestAdapter
from tests.jobs import EchoJob, SecretJob

WHEN = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)


def test_the_test_adapter_records_what_the_celery_adapter_sends(celery_app: Celery) -> None:
    # Given a job with arguments JSON has no type for, sent to a queue with a priority
    job = EchoJob(1, (2, 3), when=WHEN).set(queue="low_priority", priority=2)

    # When the test adapter records it, and the Celery adapter builds its message from the same job
    with use_adapter(TestAdapter()) as recorded:
        job.enqueue()
    [entry] = recorded.jobs
    name, message, options = CeleryAdapter().message(celery_app, job.serialize())
    headers, _properties, body, _sent_event = message

    # Then both hold the same arguments as they travel, the same header, id, queue and priority
    assert (body[0], body[1]) == entry.serialized
    assert options["headers"]["conveyor"] == entry.meta
    assert headers["id"] == entry.job_id == job.job_id
    assert name == headers["task"] == "tests.jobs.EchoJob"
    assert (options["queue"], options["priority"]) == (entry.queue, entry.priority) == ("low_priority", 2)
    assert (entry.args, entry.kwargs) == ((1, (2, 3)), {"when": WHEN})


def test_the_celery_message_shows_arguments_unless_the_job_hides_them(celery_app: Celery) -> None:
    # Given a job that shows its arguments and one declaring log_arguments = False
    with use_adapter(TestAdapter()):
        shown, hidden = EchoJob("visible", flag=True).enqueue(), SecretJob("hunter2").enqueue()

    # When their messages are built
    shown_headers = CeleryAdapter().message(celery_app, shown.serialize())[1][0]
    hidden_message = CeleryAdapter().message(celery_app, hidden.serialize())[1]

    # Then Flower's reprs show the first's and filter the second's, which still travel in the body
    assert (shown_headers["argsrepr"], shown_headers["kwargsrepr"]) == ("('visible',)", "{'flag': True}")
    assert (hidden_message[0]["argsrepr"], hidden_message[0]["kwargsrepr"]) == ("[FILTERED]", "[FILTERED]")
    assert hidden_message[2][0] == ["hunter2"]


def test_a_scheduled_job_carries_its_eta_unless_it_goes_to_the_scheduled_set(celery_app: Celery) -> None:
    # Given a job due in a minute
    with use_adapter(TestAdapter()):
        job = EchoJob(1).set(wait=60).enqueue()
    assert job.scheduled_at is not None

    # When its message is built for a queue, and for the scheduled set (eta=False)
    adapter = CeleryAdapter()
    eta = adapter.message(celery_app, job.serialize())[1][0]["eta"]
    without = adapter.message(celery_app, job.serialize(), eta=False)[1][0]["eta"]

    # Then only the first has Celery's ETA, the job's scheduled time
    assert dt.datetime.fromisoformat(eta) == job.scheduled_at
    assert without is None


def test_use_adapter_hands_jobs_to_the_given_adapter_and_puts_the_previous_one_back_even_on_error() -> None:
    # Given the default adapter
    default = current_adapter()
    assert isinstance(default, CeleryAdapter)
    outer, inner = TestAdapter(), TestAdapter()

    # When adapters are nested and the inner block fails
    seen = []

    def failing_block() -> None:
        with use_adapter(inner):
            seen.append(current_adapter())
            raise RuntimeError("test failed inside")

    with use_adapter(outer):
        seen.append(current_adapter())
        with pytest.raises(RuntimeError, match="test failed inside"):
            failing_block()
        seen.append(current_adapter())

    # Then each block had its adapter and each exit put back the one before
    assert seen == [outer, inner, outer]
    assert current_adapter() is default


def test_a_broker_that_is_down_raises_enqueue_error_quickly(celery_app: Celery) -> None:
    dead = conveyor.configure(
        Celery("dead", set_as_current=False), default=False, broker_url=f"redis://127.0.0.1:{free_port()}/0"
    )
    dead.set_current()
    try:
        started = time.monotonic()
        with pytest.raises(EnqueueError, match="Could not enqueue EchoJob") as caught:
            EchoJob.perform_later(1)
        elapsed = time.monotonic() - started
    finally:
        celery_app.set_current()
    assert caught.value.__cause__ is not None
    assert elapsed < 10


def test_perform_all_later_on_a_broker_that_is_down_raises_enqueue_error_and_marks_nothing_enqueued(
    celery_app: Celery,
) -> None:
    # Given an app whose broker does not answer
    dead = conveyor.configure(
        Celery("dead-bulk", set_as_current=False), default=False, broker_url=f"redis://127.0.0.1:{free_port()}/0"
    )
    dead.set_current()
    jobs = [EchoJob(1), EchoJob(2)]
    try:
        # When jobs are enqueued in bulk through it
        with pytest.raises(EnqueueError, match="perform_all_later: could not enqueue any of the 2 job") as caught:
            perform_all_later(jobs)
    finally:
        celery_app.set_current()

    # Then the error is conveyor's (kombu's connection error as its cause), and no job says it was enqueued
    assert caught.value.__cause__ is not None
    assert [job.successfully_enqueued for job in jobs] == [False, False]


def test_the_enqueue_error_names_the_job_the_queue_and_the_broker_without_its_password(celery_app: Celery) -> None:
    # Given an app whose broker, with a password in its URL, does not answer
    port = free_port()
    dead = conveyor.configure(
        Celery("dead-secret", set_as_current=False), default=False, broker_url=f"redis://:s3cret@127.0.0.1:{port}/0"
    )
    dead.set_current()
    try:
        # When a job is enqueued through it
        with pytest.raises(EnqueueError) as caught:
            EchoJob.set(queue="low_priority").perform_later(1)
    finally:
        celery_app.set_current()

    # Then the error names the job and queue and asks about the broker, with its password masked
    message = str(caught.value)
    assert message.startswith("Could not enqueue EchoJob (Job ID: ")
    assert " to low_priority: " in message
    assert message.endswith(f"Is the broker at 'redis://:***@127.0.0.1:{port}/0' reachable?")
    assert "s3cret" not in message
