"""Fixtures of the broker's tests: an app whose kombu channels consume ``owned_queue.QUEUE`` without a worker."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import redis
from celery import Celery

import conveyor
from tests.conftest import TEST_REDIS_URL
from tests.conveyor.broker.owned_queue import Consumer


@pytest.fixture
def app(redis_client: redis.Redis) -> Celery:
    return conveyor.configure(
        Celery("owners-test"),
        default=False,
        broker_url=TEST_REDIS_URL,
        broker_transport_options={"visibility_timeout": 1},
        conveyor_scheduled_threshold=0.4,
    )


@pytest.fixture
def consumers(app: Celery) -> Iterator[Any]:
    made: list[Consumer] = []

    def make() -> Consumer:
        made.append(Consumer(app))
        return made[-1]

    yield make
    for consumer in made:
        consumer.close()
