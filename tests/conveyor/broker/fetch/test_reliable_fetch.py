"""conveyor's kombu transport (``conveyor.broker.fetch.reliable_fetch``): who owns a claim, what a send
pushes, and what happens to an entry that is not a message, through kombu's real channel.
"""

from __future__ import annotations

import base64
import time
from typing import Any

import redis
from celery import Celery

import conveyor
from conveyor.broker.dead.dead_set import DeadSet
from conveyor.broker.fetch.reliable_fetch import wake
from conveyor.keys import CLAIMS_KEY, WAKE_CAP, WAKE_PREFIX
from tests.conftest import TEST_REDIS_URL
from tests.conveyor.broker.owned_queue import QUEUE, Consumer, send


def test_with_super_fetch_off_a_claim_has_no_owner_and_kombus_visibility_timeout_applies(
    redis_client: redis.Redis,
) -> None:
    app = conveyor.configure(
        Celery("no-super"),
        default=False,
        broker_url=TEST_REDIS_URL,
        conveyor_scheduled_threshold=0.4,
        broker_transport_options={"visibility_timeout": 1, "conveyor_super_fetch": False},
    )
    send(app)
    consumer = Consumer(app)
    try:
        message = consumer.take()
        assert consumer.owner is None
        assert redis_client.hlen(CLAIMS_KEY) == 0
        assert redis_client.keys("conveyor:heartbeat:*") == []
        time.sleep(1.2)
        consumer.channel.qos.restore_visible(interval=1)  # the reliable fetch alone: redelivered on time
        assert redis_client.llen(QUEUE + "\x06\x165") == 1
        assert message.headers["id"] == "job-0"
    finally:
        consumer.close()


def test_a_consumer_without_acks_owns_nothing_and_leaves_no_unacked_record(
    app: Celery, redis_client: redis.Redis
) -> None:
    send(app)
    connection = app.connection_for_read()
    try:
        channel = connection.channel()
        received: list[Any] = []
        channel.basic_consume(
            QUEUE, no_ack=True, callback=received.append, consumer_tag="replies"
        )  # as control replies
        connection.drain_events(timeout=3)
        assert [message.headers["id"] for message in received] == ["job-0"]
        assert channel._conveyor_owner is None
        assert redis_client.hlen("unacked") == redis_client.hlen(CLAIMS_KEY) == 0
        assert redis_client.keys("conveyor:heartbeat:*") == []
    finally:
        connection.release()


def test_a_send_pushes_the_message_to_its_priority_list_and_one_wake_up_token(
    app: Celery, redis_client: redis.Redis
) -> None:
    # Given nothing waiting
    # When two messages are sent, at priorities 5 and 0
    send(app, 1, priority=5)
    send(app, 1, priority=0)

    # Then each waits in its priority's list, and idle workers of the queue have a token each
    assert redis_client.llen(QUEUE + "\x06\x165") == 1
    assert redis_client.llen(QUEUE) == 1
    assert redis_client.lrange(WAKE_PREFIX + QUEUE, 0, -1) == [b"1", b"1"]


def test_wake_up_tokens_are_capped(redis_client: redis.Redis) -> None:
    # Given a queue nobody consumes, woken many times
    wake(redis_client, "idle", tokens=WAKE_CAP + 500)
    wake(redis_client, "idle")

    # Then its wake-up list holds at most WAKE_CAP tokens
    assert redis_client.llen(WAKE_PREFIX + "idle") == WAKE_CAP


def test_an_entry_that_is_not_a_message_is_buried_and_the_consumer_takes_the_next(
    app: Celery, consumers: Any, redis_client: redis.Redis
) -> None:
    # Given garbage ahead of a message in the queue
    redis_client.lpush(QUEUE + "\x06\x165", "garbage")
    send(app)
    consumer = consumers()

    # When the consumer fetches
    message = consumer.take()

    # Then it gets the message, and the garbage is kept raw in the dead set with the reason
    assert message.headers["id"] == "job-0"
    [record] = DeadSet(redis_client).list()
    assert base64.b64decode(record["raw_entry"]) == b"garbage"
    assert record["reason"].startswith(f"unparsable message in queue {QUEUE}: ValueError: not a kombu message")
    assert redis_client.hlen("unacked") == 1  # the message only


def test_basic_get_buries_an_entry_that_is_not_a_message_and_returns_the_next(
    app: Celery, redis_client: redis.Redis
) -> None:
    # Given garbage in the queue's priority-0 list, a message in its priority-5 list
    redis_client.lpush(QUEUE, "{}")
    send(app)

    # When a message is read with basic_get (RPOP, no claim)
    with app.connection_for_read() as connection:
        message = connection.default_channel.basic_get(QUEUE, no_ack=True)

    # Then the message comes out with its routing, and the garbage is in the dead set
    assert message.headers["id"] == "job-0"
    assert message.delivery_info["routing_key"] == QUEUE
    assert [base64.b64decode(r["raw_entry"]) for r in DeadSet(redis_client).list()] == [b"{}"]


def test_basic_get_returns_the_message_behind_a_buried_entry_in_the_same_list(
    app: Celery, redis_client: redis.Redis
) -> None:
    # Given garbage ahead of a message in the same priority list
    redis_client.lpush(QUEUE + "\x06\x165", "garbage")
    send(app)

    # When a message is read with basic_get
    with app.connection_for_read() as connection:
        message = connection.default_channel.basic_get(QUEUE, no_ack=True)

    # Then it is the message behind the garbage (the queue is not reported empty), and the garbage is buried
    assert message is not None
    assert message.headers["id"] == "job-0"
    assert [base64.b64decode(r["raw_entry"]) for r in DeadSet(redis_client).list()] == [b"garbage"]


def test_a_worker_stops_without_waiting_out_its_idle_wait(app: Celery, redis_client: redis.Redis) -> None:
    from conveyor.defaults import IDLE_WAIT_S
    from conveyor.testing import worker_thread

    # Given an idle worker whose fetch waits on its wake-up list (BLPOP, up to IDLE_WAIT_S)
    waiting = lambda: [c for c in redis_client.client_list() if c.get("cmd") == "blpop"]  # noqa: E731
    with worker_thread(app, queues=[QUEUE]):
        deadline = time.monotonic() + 30
        while not waiting():
            assert time.monotonic() < deadline, "the worker's fetch never waited"
            time.sleep(0.05)
        # When it stops
        stopping = time.monotonic()
    stopped_after = time.monotonic() - stopping

    # Then the wait's connection is dropped at once: the stop does not read the wait's reply first
    assert not waiting()
    assert stopped_after < IDLE_WAIT_S / 2, f"the stop took {stopped_after:.2f} s, as if it waited out the wait"
