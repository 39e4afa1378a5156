"""Super fetch's ownership protocol on the test Redis, through kombu's real channel (no worker process).

A consumer here is kombu's synchronous ``drain_events`` on conveyor's transport: the claim
script, the owner's heartbeat, the owner-aware acknowledgement and the recovery script are
the ones a worker runs.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from celery import Celery
from kombu import Connection

import conveyor
from conveyor.broker.dead.dead_set import DeadSet
from conveyor.broker.fetch import owners
from conveyor.broker.fetch.claim import CLAIM
from conveyor.keys import (
    CLAIMS_KEY,
    DEATHS_PREFIX,
    LIMITS_KEY,
    LIMITS_TO_KEY,
    OWNERS_KEY,
    PAUSED_KEY,
    SCHEDULED_KEY,
    WAKE_PREFIX,
)
from tests.conftest import TEST_REDIS_URL

QUEUE = "owned"


@pytest.fixture
def app(redis_client: redis.Redis) -> Celery:
    return conveyor.configure(
        Celery("owners-test"),
        default=False,
        broker_url=TEST_REDIS_URL,
        broker_transport_options={"visibility_timeout": 1},
        conveyor_scheduled_threshold=0.4,
    )


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


@pytest.fixture
def consumers(app: Celery) -> Iterator[Any]:
    made: list[Consumer] = []

    def make() -> Consumer:
        made.append(Consumer(app))
        return made[-1]

    yield make
    for consumer in made:
        consumer.close()


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


def test_a_claim_records_its_owner_and_the_owners_ack_removes_every_trace(
    app: Celery, consumers: Any, redis_client: redis.Redis
) -> None:
    send(app)
    consumer = consumers()
    message = consumer.take()
    tag = message.delivery_tag
    owner = consumer.owner

    assert redis_client.exists(owner.heartbeat_key) == 1
    assert 0 < redis_client.pttl(owner.heartbeat_key) <= 30_000  # the shipped TTL
    assert json.loads(redis_client.get(owner.heartbeat_key))["queues"] == [QUEUE]  # type: ignore[arg-type]
    assert redis_client.hget(CLAIMS_KEY, tag).decode().startswith(owner.id + " ")  # type: ignore[union-attr]
    assert redis_client.smembers(owner.held_key) == {tag.encode()}
    assert redis_client.hexists("unacked", tag)

    message.ack()
    assert redis_client.hlen("unacked") == redis_client.hlen(CLAIMS_KEY) == redis_client.scard(owner.held_key) == 0
    assert redis_client.zcard("unacked_index") == 0


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


def test_a_dead_owners_messages_go_back_to_the_head_of_their_priority_list_once(
    app: Celery, consumers: Any, redis_client: redis.Redis
) -> None:
    send(app, 2, priority=3)
    victim = consumers()
    taken = victim.take()
    redis_client.delete(WAKE_PREFIX + QUEUE)
    kill(redis_client, victim.owner)

    assert owners.recover_dead_owners(redis_client) == (1, 0)
    assert owners.recover_dead_owners(redis_client) == (0, 0)  # a second recoverer finds nothing left
    key = f"{QUEUE}\x06\x163"
    assert [json.loads(item)["headers"]["id"] for item in redis_client.lrange(key, 0, -1)] == ["job-1", "job-0"]
    assert redis_client.lindex(key, -1) is not None
    assert b"job-0" in redis_client.lindex(key, -1)
    assert redis_client.llen(WAKE_PREFIX + QUEUE) == 1  # an idle worker is woken
    assert redis_client.hlen("unacked") == redis_client.hlen(CLAIMS_KEY) == 0
    assert redis_client.zscore(OWNERS_KEY, victim.owner.id) is None
    assert redis_client.get(DEATHS_PREFIX + "job-0") == b"1"

    # Its late acknowledgement (it was only paused) touches nothing another worker now holds.
    survivor = consumers()
    again = survivor.take()
    assert again.headers["id"] == "job-0"
    assert again.delivery_tag == taken.delivery_tag
    taken.ack()
    assert redis_client.hget(CLAIMS_KEY, again.delivery_tag).decode().startswith(survivor.owner.id)  # type: ignore[union-attr]
    assert redis_client.hexists("unacked", again.delivery_tag)
    again.ack()
    assert redis_client.hlen("unacked") == 0


def test_a_live_owner_is_not_recovered_and_an_expired_owner_claims_nothing(
    app: Celery, consumers: Any, redis_client: redis.Redis
) -> None:
    send(app, 2)
    consumer = consumers()
    consumer.take()
    redis_client.zadd(OWNERS_KEY, {consumer.owner.id: 0})  # an old "last heartbeat" (a clock behind): its key lives
    assert owners.recover_dead_owners(redis_client) == (0, 0)
    assert redis_client.scard(consumer.owner.held_key) == 1

    # Paused past the TTL: the claim script refuses to claim under an id whose heartbeat expired ...
    consumer.owner._stop.set()
    redis_client.delete(consumer.owner.heartbeat_key)
    keys = [
        "unacked",
        "unacked_index",
        CLAIMS_KEY,
        consumer.owner.held_key,
        consumer.owner.heartbeat_key,
        SCHEDULED_KEY,
        LIMITS_KEY,
        LIMITS_TO_KEY,
        PAUSED_KEY,
        QUEUE + "\x06\x165",
    ]
    assert CLAIM(redis_client, keys, [time.time(), consumer.owner.id]) == [b"", b"", b"dead"]
    assert redis_client.llen(QUEUE + "\x06\x165") == 1
    # ... and the channel beats again before it claims the next message.
    message = consumer.take()
    assert message.headers["id"] == "job-1"
    assert redis_client.exists(consumer.owner.heartbeat_key) == 1


def test_a_job_recovered_from_dead_workers_three_times_goes_to_the_dead_set(
    app: Celery, consumers: Any, redis_client: redis.Redis
) -> None:
    [job_id] = send(app)
    for _ in range(3):
        consumer = consumers()
        consumer.take()
        kill(redis_client, consumer.owner)
        owners.recover_dead_owners(redis_client)

    assert sum(redis_client.llen(key) for key in redis_client.keys(QUEUE + "*")) == 0
    record = DeadSet(redis_client).get(job_id)
    assert record is not None
    assert record["reason"] == "its worker died 3 times while running it"
    assert record["queue"] == QUEUE
    assert record["message"]["headers"]["id"] == job_id
    assert redis_client.llen("conveyor:poisoned") == 0


def test_a_closing_channel_hands_its_messages_back_and_signs_off(
    app: Celery, consumers: Any, redis_client: redis.Redis
) -> None:
    send(app)
    consumer = consumers()
    consumer.take()
    owner = consumer.owner
    consumer.close()

    assert redis_client.llen(QUEUE + "\x06\x165") == 1
    assert redis_client.exists(owner.heartbeat_key) == 0
    assert redis_client.zscore(OWNERS_KEY, owner.id) is None
    assert redis_client.get(DEATHS_PREFIX + "job-0") is None  # a clean hand-back is not a death
    assert not owner._thread.is_alive()  # type: ignore[union-attr]


def test_busy_and_workers_show_what_each_worker_holds_and_who_is_dead(
    app: Celery, consumers: Any, redis_client: redis.Redis
) -> None:
    from conveyor.broker.views.busy import busy, workers

    send(app, 2)
    first, second = consumers(), consumers()
    held = first.take()
    second.take()
    kill(redis_client, second.owner)

    found = {owner.id: owner for owner in workers(redis_client)}
    assert found[first.owner.id].alive
    assert found[first.owner.id].holding == 1
    assert found[first.owner.id].queues == [QUEUE]
    assert not found[second.owner.id].alive  # dead, its job not recovered yet
    running = busy(redis_client, now=time.time() + 10)
    assert [(job.owner, job.job_id, job.queue) for job in running] == [
        (first.owner.id, held.headers["id"], QUEUE),
        (second.owner.id, "job-1", QUEUE),
    ]
    assert 10 <= running[0].runtime_s < 15  # type: ignore[operator]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            {"conveyor_heartbeat_interval": 20},
            r"conveyor_heartbeat_interval \(20 s\) must be at most half of "
            r"conveyor_heartbeat_ttl \(30 s\)",
        ),
        ({"conveyor_heartbeat_ttl": 0}, r"conveyor_heartbeat_ttl must be a positive number of seconds, not 0"),
        ({"conveyor_heartbeat_interval": "5"}, r"conveyor_heartbeat_interval must be a positive number"),
    ],
)
def test_a_heartbeat_that_would_make_live_workers_look_dead_is_refused(options: dict[str, Any], message: str) -> None:
    from conveyor.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match=message):
        conveyor.configure(Celery("t"), default=False, broker_transport_options=options)


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


def test_a_paused_queue_is_skipped_by_every_worker_until_resumed(
    app: Celery, consumers: Any, redis_client: redis.Redis
) -> None:
    from conveyor.broker.views.queue_state import overview, pause, resume

    pause(redis_client, QUEUE)
    send(app, 2)
    consumer = consumers()
    with pytest.raises(TimeoutError):
        consumer.take(timeout=1.5)  # claims (woken by the sends, then every second) skip the queue
    restarted = consumers()  # a worker started later: the pause lives in Redis
    with pytest.raises(TimeoutError):
        restarted.take(timeout=1.5)
    [row] = [row for row in overview(app, redis_client) if row.name == QUEUE]
    assert (row.paused, row.waiting, row.consumers) == (True, 2, 2)
    assert row.latency_s is None  # sent without conveyor's header: age unknown

    assert resume(redis_client, QUEUE)
    assert restarted.take(timeout=3).headers["id"] == "job-0"
    assert consumer.take(timeout=3).headers["id"] == "job-1"
    assert redis_client.smembers("conveyor:paused") == set()


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
