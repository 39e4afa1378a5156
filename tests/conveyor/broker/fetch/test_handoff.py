"""Handing a running job's message off (``conveyor.broker.fetch.handoff``): any process of the worker ends the
claim, so the channel's close hands nothing back and its late acknowledgement finds nothing to do."""

from __future__ import annotations

from typing import Any

import redis
from celery import Celery

from conveyor.broker.fetch.handoff import hand_off
from conveyor.keys import CLAIMS_KEY
from tests.conveyor.broker.owned_queue import QUEUE, send


def test_a_handed_off_message_leaves_no_trace_and_is_not_handed_back_at_close(
    app: Celery, consumers: Any, redis_client: redis.Redis
) -> None:
    # Given a message a consumer claimed
    send(app)
    consumer = consumers()
    message = consumer.take()
    held = consumer.owner.held_key

    # When the job hands it off (from another connection, as a pool process would)
    handed = hand_off(app, message.delivery_tag)

    # Then its records are gone; a second hand-off, the late ack and the close find nothing to do
    assert handed is True
    assert redis_client.hlen("unacked") == redis_client.zcard("unacked_index") == redis_client.hlen(CLAIMS_KEY) == 0
    assert redis_client.scard(held) == 0
    assert hand_off(app, message.delivery_tag) is False
    message.ack()
    consumer.close()
    assert redis_client.keys(QUEUE + "*") == []


def test_a_message_the_worker_no_longer_holds_is_not_handed_off(app: Celery, redis_client: redis.Redis) -> None:
    # Given no unacknowledged message of that tag
    # When a job hands it off
    # Then it says so, and writes nothing
    assert hand_off(app, "no-such-tag") is False
    assert redis_client.keys("*") == []
