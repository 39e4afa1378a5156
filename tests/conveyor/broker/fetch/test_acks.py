"""Acknowledging and handing back claimed messages (``conveyor.broker.fetch.acks``): only the owner's own
acknowledgement acts, and kombu's visibility sweep leaves a live owner's messages alone.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import pytest
import redis
from celery import Celery

from conveyor.broker.fetch import owners
from conveyor.keys import CLAIMS_KEY, WAKE_PREFIX
from tests.conveyor.broker.owned_queue import QUEUE, kill, send

PRIORITY_5 = QUEUE + "\x06\x165"  # the list send() fills (kombu's priority 5)


def test_a_live_owners_message_is_never_redelivered_by_kombus_visibility_sweep(
    app: Celery, consumers: Any, redis_client: redis.Redis
) -> None:
    send(app)
    holder = consumers()
    message = holder.take()
    time.sleep(1.2)  # past this app's visibility timeout (1 s)

    holder.channel.qos.restore_visible(interval=1)  # the holder's own sweep too
    sweeper = consumers()
    sweeper.channel.qos.restore_visible(interval=1)
    assert sum(redis_client.llen(key) for key in redis_client.keys(QUEUE + "*")) == 0
    assert redis_client.hexists("unacked", message.delivery_tag)  # still held, by its live owner

    # A message no conveyor owner holds (kombu's own fetch, an older worker) still comes back on time.
    redis_client.hset(
        "unacked",
        "legacy",
        json.dumps(
            [
                {
                    "body": "e30=",
                    "properties": {"delivery_tag": "legacy", "priority": 0, "delivery_info": {}},
                    "headers": {},
                },
                "",
                QUEUE,
            ]
        ),
    )
    redis_client.zadd("unacked_index", {"legacy": time.time() - 60})
    sweeper.channel.qos.restore_visible(interval=1)
    assert redis_client.llen(QUEUE) == 1
    assert not redis_client.hexists("unacked", "legacy")


def test_a_requeued_message_goes_back_to_its_list_byte_for_byte_and_wakes_a_worker(
    app: Celery, consumers: Any, redis_client: redis.Redis
) -> None:
    # Given a message a consumer claimed, as it was in its list
    send(app)
    sent = redis_client.lindex(PRIORITY_5, -1)
    consumer = consumers()
    message = consumer.take()
    redis_client.delete(WAKE_PREFIX + QUEUE)

    # When the consumer rejects it with requeue
    message.reject(requeue=True)

    # Then the same bytes wait in the same list, no trace of the claim is left, and a worker is woken
    assert redis_client.lrange(PRIORITY_5, 0, -1) == [sent]
    assert redis_client.hlen("unacked") == redis_client.hlen(CLAIMS_KEY) == 0
    assert redis_client.scard(consumer.owner.held_key) == 0
    assert redis_client.llen(WAKE_PREFIX + QUEUE) == 1


def test_a_reject_without_requeue_acknowledges_the_message(
    app: Celery, consumers: Any, redis_client: redis.Redis
) -> None:
    # Given a message a consumer claimed
    send(app)
    consumer = consumers()
    message = consumer.take()

    # When the consumer rejects it without requeue
    message.reject(requeue=False)

    # Then it is gone: not in its list, not held, not unacknowledged
    assert redis_client.llen(PRIORITY_5) == 0
    assert redis_client.hlen("unacked") == redis_client.hlen(CLAIMS_KEY) == 0
    assert redis_client.scard(consumer.owner.held_key) == 0


def test_a_requeue_and_an_ack_from_an_owner_that_lost_the_message_leave_the_new_owners_claim_alone(
    app: Celery, consumers: Any, redis_client: redis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    # Given a message recovered from a paused consumer and claimed again by another
    send(app)
    paused = consumers()
    late = paused.take()
    kill(redis_client, paused.owner)
    owners.recover_dead_owners(redis_client)
    survivor = consumers()
    again = survivor.take()
    claim = redis_client.hget(CLAIMS_KEY, again.delivery_tag)

    # When the paused consumer, resumed, requeues it, then acknowledges a second copy of its delivery
    late.reject(requeue=True)
    paused.channel.qos.claimed.add(late.delivery_tag)  # as if it had claimed it again before losing it
    with caplog.at_level(logging.WARNING, logger="conveyor.broker.fetch.acks"):
        paused.channel.qos.ack(late.delivery_tag)

    # Then nothing is put back and the survivor's claim and records are untouched; the late ack is logged
    assert redis_client.llen(PRIORITY_5) == 0
    assert redis_client.hget(CLAIMS_KEY, again.delivery_tag) == claim
    assert redis_client.hexists("unacked", again.delivery_tag)
    assert redis_client.sismember(survivor.owner.held_key, again.delivery_tag)
    assert "came after its job was recovered from this worker" in caplog.text
