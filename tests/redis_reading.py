"""Reading what conveyor put into Redis, for tests of any folder."""

from __future__ import annotations

import base64
import json
from typing import Any

import redis

from conveyor.defaults import PRIORITY_STEPS

__all__ = ["queue_keys", "queued_messages", "scheduled_entries"]

# kombu's Redis transport keeps one list per priority step: "<queue>" for 0, "<queue>\x06\x16<n>" for others.


def queue_keys(queue: str) -> list[str]:
    return [queue if step == 0 else f"{queue}\x06\x16{step}" for step in PRIORITY_STEPS]


def queued_messages(client: redis.Redis, queue: str) -> list[dict[str, Any]]:
    """The messages waiting in ``queue`` (all priority steps), oldest first, with decoded bodies."""
    messages = []
    for key in queue_keys(queue):
        for raw in reversed(client.lrange(key, 0, -1)):
            message = json.loads(raw)
            message["decoded_body"] = json.loads(base64.b64decode(message["body"]))
            message["redis_key"] = key
            messages.append(message)
    return messages


def scheduled_entries(client: redis.Redis) -> list[dict[str, Any]]:
    """The jobs in the scheduled set, soonest first: queue key, due (epoch s), message with decoded body."""
    from conveyor.broker.scheduled.scheduled_set import entries

    found = entries(client, limit=1000)
    for entry in found:
        entry["message"] = json.loads(entry["message"])
        entry["message"]["decoded_body"] = json.loads(base64.b64decode(entry["message"]["body"]))
    return found
