"""Super fetch's ownership protocol on the test Redis, through kombu's real channel (no worker process).

A consumer here is kombu's synchronous ``drain_events`` on conveyor's transport: the claim
script, the owner's heartbeat, the owner-aware acknowledgement and the recovery script are
the ones a worker runs.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
import redis
from celery import Celery

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
    RECOVERY_GRACE_KEY,
    SCHEDULED_KEY,
    WAKE_PREFIX,
)
from tests.conveyor.broker.owned_queue import QUEUE, kill, send


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


def test_one_beat_of_the_fleet_looks_for_dead_owners_per_interval_and_never_in_the_grace(
    redis_client: redis.Redis,
) -> None:
    # Given two live owners and one whose heartbeat expired
    first, second = (owners.Owner(redis_client, [QUEUE], ttl=30, interval=0.5) for _ in range(2))
    redis_client.zadd(OWNERS_KEY, {"gone": 1.0})
    # When both beat within one interval, only the first looks (and finds it)
    assert first.beat() == ["gone"]
    assert second.beat() == []
    # Then once the interval passed, the next beat looks again, whichever owner sends it
    time.sleep(0.5)  # the gate's own expiry (PX), nothing to wait on but Redis' clock
    assert second.beat() == ["gone"]
    # And a recovery grace is not ended by a beat's look: nobody is found dead while it holds
    second._open_grace(redis_client)
    time.sleep(0.5)
    assert first.beat() == []
    assert redis_client.get(RECOVERY_GRACE_KEY).startswith(b"grace ")  # type: ignore[union-attr]
    assert owners.recover_dead_owners(redis_client) == (0, 0)
