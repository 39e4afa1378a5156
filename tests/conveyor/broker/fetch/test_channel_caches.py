"""What a channel keeps between fetches (``conveyor.broker.fetch.channel_caches``): the claim command encoded
once per queue set and owner, byte for byte what redis-py would send, and one client per connection pool."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import redis
from celery import Celery
from redis.connection import Connection

from conveyor.broker.fetch.channel_caches import bulk


@pytest.fixture
def channel(app: Celery) -> Iterator[Any]:
    with app.connection_for_read() as connection:
        yield connection.default_channel


def packed(*args: Any) -> bytes:
    """A command as redis-py encodes it."""
    return b"".join(Connection().pack_command(*args))


def test_an_argument_is_encoded_as_redis_py_encodes_it() -> None:
    # Given arguments of each type a claim sends
    args = ("EVALSHA", b"\x00raw", "queue\x06\x165", "é", 12, 1712345678.123456, 0.5)

    # Then the encoding of each, after the count, is redis-py's command
    assert b"*7\r\n" + b"".join(bulk(arg) for arg in args) == packed(*args)


def test_the_claim_command_lists_every_queue_at_every_priority_step_priority_outside(
    channel: Any, redis_client: redis.Redis
) -> None:
    # Given a channel's claim for queues [high, low] and an owner
    seen: list[list[str]] = []

    def parts(keys: list[str]) -> Any:
        seen.append(keys)
        return (("EVALSHA", "sha", len(keys)), ("owner",), (0,))

    # When the command is built twice for the same queues and owner, then for another owner
    head, middle, tail = channel._claim_command(["high", "low"], ("owner",), parts)
    assert channel._claim_command(["high", "low"], ("owner",), parts) == (head, middle, tail)
    channel._claim_command(["high", "low"], ("other",), parts)

    # Then the keys are each queue's list at priority 0, then at 1, ... (built once per queue set and owner)
    keys = seen[0]
    assert keys[:4] == ["high", "low", "high\x06\x161", "low\x06\x161"]
    assert keys[-2:] == ["high\x06\x169", "low\x06\x169"]
    assert len(keys) == 2 * len(channel.priority_steps)
    assert len(seen) == 2
    # and, with the three changing arguments put in (time, random number, look flag), it is the command
    # redis-py would send
    sent = head + bulk(1.5) + middle + bulk(0.25) + tail + bulk(1)
    assert sent == packed("EVALSHA", "sha", len(keys), 1.5, "owner", 0.25, 0, 1)


def test_commands_outside_the_fetch_share_one_client_per_connection_pool(channel: Any) -> None:
    # When the channel acquires a client twice
    with channel.conn_or_acquire() as first, channel.conn_or_acquire() as second:
        # Then it is the same client, on the channel's pool
        assert first is second
        assert first.connection_pool is channel.pool
