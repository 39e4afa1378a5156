"""Claims made on a master Sentinel replaced, sent again to the new one (``conveyor.broker.fetch.promotion``).

Here the "new master" is the test Redis in the state a lost write leaves it: a claim the old master
took and lost is a message still queued; an acknowledgement lost is a message still held. Each case
is set up with the claim script itself, then the journal is replayed, twice: the second replay
changes nothing. The failover end to end is tests/reliability/test_failover.py.
"""

from __future__ import annotations

import json
import time
import uuid

import pytest
import redis

from conveyor.broker.fetch.claim import CLAIM
from conveyor.broker.fetch.promotion import ClaimJournal
from conveyor.keys import CLAIMS_KEY, LIMITS_KEY, LIMITS_TO_KEY, PAUSED_KEY, SCHEDULED_KEY, WAKE_PREFIX

pytestmark = pytest.mark.redis

OWNER = "owner-1"
HELD, HEARTBEAT = f"conveyor:held:{OWNER}", f"conveyor:heartbeat:{OWNER}"
KEYS = ["unacked", "unacked_index", CLAIMS_KEY, HELD]


def claim(client: redis.Redis) -> tuple[bytes, bytes, str]:
    """Send one message to "default" and claim it as a worker's fetch does: (list, message as claimed, tag)."""
    tag = str(uuid.uuid4())
    message = {"body": "e30=", "headers": {"id": tag}, "properties": {"delivery_tag": tag, "delivery_info": {}}}
    client.lpush("default", json.dumps(message))
    client.set(HEARTBEAT, "{}", px=30_000)  # a live owner (a claim by one whose heartbeat expired takes nothing)
    keys = [*KEYS, HEARTBEAT, SCHEDULED_KEY, LIMITS_KEY, LIMITS_TO_KEY, PAUSED_KEY, "default"]
    key, item, verdict, claimed_tag = CLAIM(client, keys, [time.time(), OWNER, WAKE_PREFIX, 0.5, 0])
    assert (verdict, claimed_tag.decode()) == (b"ok", tag)
    return key, item, tag


def lost(client: redis.Redis, key: bytes, item: bytes, tag: str) -> None:
    """Undo a claim, as if the master that took it was replaced before it replicated it."""
    client.delete("unacked", "unacked_index", CLAIMS_KEY, HELD)
    client.rpush(key, item)
    assert not client.sismember(HELD, tag)


def state(client: redis.Redis) -> tuple[int, bool, bool, bool]:
    return (
        int(client.llen("default")),
        bool(client.hlen("unacked")),
        bool(client.zcard("unacked_index")),
        bool(client.scard(HELD)),
    )


def test_a_lost_claim_is_taken_out_of_its_queue_again_and_held_as_the_claim_script_holds_it(
    redis_client: redis.Redis,
) -> None:
    journal = ClaimJournal()
    key, item, tag = claim(redis_client)
    journal.claimed(key, item, tag)
    as_claimed = (redis_client.hget("unacked", tag), redis_client.hget(CLAIMS_KEY, tag))
    lost(redis_client, key, item, tag)

    assert journal.replay(redis_client, KEYS, OWNER, acknowledged=()) == {"claimed": 1}
    assert state(redis_client) == (0, True, True, True)
    assert (redis_client.hget("unacked", tag), redis_client.hget(CLAIMS_KEY, tag)) == as_claimed
    assert journal.replay(redis_client, KEYS, OWNER, acknowledged=()) == {"held": 1}  # idempotent
    assert state(redis_client) == (0, True, True, True)


def test_a_lost_claim_of_a_job_that_already_ran_is_taken_out_of_its_queue_and_forgotten(
    redis_client: redis.Redis,
) -> None:
    journal = ClaimJournal()
    key, item, tag = claim(redis_client)
    journal.claimed(key, item, tag)
    lost(redis_client, key, item, tag)

    assert journal.replay(redis_client, KEYS, OWNER, acknowledged={tag}) == {"removed": 1}
    assert state(redis_client) == (0, False, False, False)
    assert journal.replay(redis_client, KEYS, OWNER, acknowledged={tag}) == {"done": 1}
    assert state(redis_client) == (0, False, False, False)


def test_a_lost_acknowledgement_is_made_again_and_a_claim_the_new_master_has_is_left_held(
    redis_client: redis.Redis,
) -> None:
    journal = ClaimJournal()
    acked, running = claim(redis_client), claim(redis_client)
    for key, item, tag in (acked, running):
        journal.claimed(key, item, tag)

    assert journal.replay(redis_client, KEYS, OWNER, acknowledged={acked[2]}) == {"acked": 1, "held": 1}
    assert redis_client.smembers(HELD) == {running[2].encode()}
    assert redis_client.hkeys("unacked") == [running[2].encode()]
    assert redis_client.llen("default") == 0


def test_a_message_another_worker_took_meanwhile_is_left_to_it(redis_client: redis.Redis) -> None:
    journal = ClaimJournal()
    key, item, tag = claim(redis_client)
    journal.claimed(key, item, tag)
    redis_client.delete("unacked", "unacked_index", CLAIMS_KEY, HELD)  # lost here, and not queued: taken

    assert journal.replay(redis_client, KEYS, OWNER, acknowledged=()) == {"gone": 1}
    assert state(redis_client) == (0, False, False, False)


def test_only_the_claims_of_the_window_are_sent_again(redis_client: redis.Redis) -> None:
    journal = ClaimJournal(window_s=0.2)
    old = claim(redis_client)
    journal.claimed(*old)
    lost(redis_client, *old)
    time.sleep(0.3)  # the journal's window is measured on the monotonic clock: nothing else to wait on
    assert journal.replay(redis_client, KEYS, OWNER, acknowledged=()) == {}
    assert redis_client.llen("default") == 1  # older than the window: left queued (it was replicated, or is lost)
