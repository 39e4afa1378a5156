"""Task events leave the worker in batches (``conveyor.broker.event_batches``): buffered until the timer or the
batch size, one message per batch, and flushed when the consumer stops; a failed flush never stops a worker."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any

import pytest
import redis

from conveyor.broker.event_batches import EventBatches
from conveyor.defaults import EVENT_BATCH_SIZE, EVENT_FLUSH_INTERVAL_S


class Hub:
    """The consumer's event loop, its timer fired by hand."""

    def __init__(self) -> None:
        self.timers: list[tuple[float, Callable[..., Any], tuple[Any, ...]]] = []
        self.cancelled = False

    def call_repeatedly(self, interval: float, fn: Callable[..., Any], *args: Any) -> Any:
        self.timers.append((interval, fn, args))
        return SimpleNamespace(cancel=lambda: setattr(self, "cancelled", True))

    def fire(self) -> None:
        for _, fn, args in self.timers:
            fn(*args)


@pytest.fixture
def published(redis_client: redis.Redis) -> Iterator[Callable[[], list[list[str]]]]:
    """The event messages published so far: each a list of event types."""
    pubsub = redis_client.pubsub()
    pubsub.psubscribe("*celeryev*")
    assert pubsub.get_message(timeout=1)["type"] == "psubscribe"  # type: ignore[index]

    def read() -> list[list[str]]:
        # Task events only: channels are server-wide, and a worker of another test module on the same Redis
        # (its module-scoped fixture still up) publishes its worker-heartbeat there too.
        found = []
        while message := pubsub.get_message(timeout=0.2):
            body = json.loads(base64.b64decode(json.loads(message["data"])["body"]))
            types = [event["type"] for event in (body if isinstance(body, list) else [body])]
            if any(kind.startswith("task-") for kind in types):
                found.append(types)
        return found

    yield read
    pubsub.close()


@pytest.fixture
def consumer(celery_app: Any) -> Iterator[Any]:
    with celery_app.connection_for_write() as connection:
        dispatcher = celery_app.events.Dispatcher(connection, enabled=True, buffer_group=["task"])
        yield SimpleNamespace(event_dispatcher=dispatcher, hub=Hub())
        dispatcher.close()


def test_task_events_wait_for_the_timer_and_leave_as_one_message(consumer: Any, published: Any) -> None:
    # Given the step started on a consumer with an event loop
    step = EventBatches(consumer)
    step.start(consumer)
    assert [interval for interval, _, _ in consumer.hub.timers] == [EVENT_FLUSH_INTERVAL_S]
    assert consumer.event_dispatcher.buffer_limit == EVENT_BATCH_SIZE

    # When three task events are sent
    for kind in ("task-received", "task-started", "task-succeeded"):
        consumer.event_dispatcher.send(kind, uuid="job-1")

    # Then nothing leaves until the timer fires, and then one message holds all three, in order
    assert published() == []
    consumer.hub.fire()
    assert published() == [["task-received", "task-started", "task-succeeded"]]


def test_a_stopping_consumer_sends_its_last_events_and_cancels_the_timer(consumer: Any, published: Any) -> None:
    # Given a started step with one event buffered
    step = EventBatches(consumer)
    step.start(consumer)
    consumer.event_dispatcher.send("task-received", uuid="job-2")

    # When the consumer stops
    step.stop(consumer)

    # Then the event is sent and the timer cancelled
    assert published() == [["task-received"]]
    assert consumer.hub.cancelled


def test_without_an_event_loop_the_dispatcher_is_left_as_celery_made_it(consumer: Any) -> None:
    consumer.hub = None
    limit = consumer.event_dispatcher.buffer_limit
    step = EventBatches(consumer)
    step.start(consumer)
    assert step.timer is None
    assert consumer.event_dispatcher.buffer_limit == limit


def test_a_flush_that_fails_is_logged_and_the_worker_goes_on(caplog: pytest.LogCaptureFixture) -> None:
    def fail(errors: bool) -> None:
        raise redis.ConnectionError("Redis is away")

    consumer = SimpleNamespace(event_dispatcher=SimpleNamespace(flush=fail), hub=None)
    with caplog.at_level(logging.WARNING, logger="conveyor.broker.event_batches"):
        EventBatches(consumer).stop(consumer)
    assert caplog.messages == ["conveyor: could not send task events: ConnectionError: Redis is away"]
