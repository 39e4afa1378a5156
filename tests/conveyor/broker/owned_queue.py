"""A kombu channel on conveyor's transport consuming one queue, as a worker's main process does (no worker).

A consumer here is kombu's synchronous ``drain_events``: the claim script, the owner's
heartbeat, the owner-aware acknowledgement and the recovery script are the ones a worker runs.
The fixtures ``app`` and ``consumers`` (``tests/conveyor/broker/conftest.py``) build on it.
"""

from __future__ import annotations

import time
from typing import Any

import redis
from celery import Celery
from kombu import Connection

from conveyor.broker.fetch import owners
from conveyor.keys import OWNERS_KEY

QUEUE = "owned"


class Consumer:
    """A kombu channel consuming QUEUE without acknowledging: what a worker holds."""

    def __init__(self, app: Celery) -> None:
        self.connection: Connection = app.connection_for_read()
        self.channel = self.connection.channel()
        self.received: list[Any] = []
        self.channel.basic_consume(QUEUE, no_ack=False, callback=self.received.append, consumer_tag=str(id(self)))

    def take(self, timeout: float = 3.0) -> Any:
        self.connection.drain_events(timeout=timeout)
        return self.received.pop()

    @property
    def owner(self) -> owners.Owner:
        return self.channel._conveyor_owner  # type: ignore[no-any-return]

    def close(self) -> None:
        self.connection.release()


def send(app: Celery, n: int = 1, priority: int = 5) -> list[str]:
    ids = []
    with app.producer_or_acquire() as producer:
        for i in range(n):
            producer.publish({"n": i}, routing_key=QUEUE, priority=priority, headers={"id": f"job-{i}"})
            ids.append(f"job-{i}")
    return ids


def kill(client: redis.Redis, owner: owners.Owner) -> None:
    """What kill -9 leaves behind: the thread stops beating and the heartbeat key expires.

    Its last-heartbeat score is an hour ahead (a machine whose clock runs fast): Redis' key
    expiry decides who is dead, not the clocks.
    """
    owner._stop.set()
    client.delete(owner.heartbeat_key)
    client.zadd(OWNERS_KEY, {owner.id: time.time() + 3600})
