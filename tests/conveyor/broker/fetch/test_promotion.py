"""Claims made on a master Sentinel replaced, sent again to the new one (``conveyor.broker.fetch.promotion``).

Here the "new master" is the test Redis in the state a lost write leaves it: a claim the old master
took and lost is a message still queued; an acknowledgement lost is a message still held. Each case
is set up with the claim script itself, then the journal is replayed, twice: the second replay
changes nothing. The journal goes on one connection (the fetch's own, in a worker). The failover
end to end is tests/reliability/test_failover.py.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from conveyor.broker.fetch.claim import CLAIM
from conveyor.broker.fetch.promotion import ClaimJournal
from conveyor.keys import CLAIMS_KEY, LIMITS_KEY, LIMITS_TO_KEY, PAUSED_KEY, SCHEDULED_KEY, WAKE_PREFIX

pytestmark = pytest.mark.redis

OWNER = "owner-1"
HELD, HEARTBEAT = f"conveyor:held:{OWNER}", f"conveyor:heartbeat:{OWNER}"
KEYS = ["unacked", "unacked_index", CLAIMS_KEY, HELD]


@pytest.fixture
def connection(redis_client: redis.Redis) -> Iterator[Any]:
    """One connection of the test Redis, as the fetch holds one."""
    taken = redis_client.connection_pool.get_connection()
    yield taken
    redis_client.connection_pool.release(taken)


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
    redis_client: redis.Redis, connection: Any
) -> None:
    journal = ClaimJournal()
    key, item, tag = claim(redis_client)
    journal.claimed(key, item, tag)
    as_claimed = (redis_client.hget("unacked", tag), redis_client.hget(CLAIMS_KEY, tag))
    lost(redis_client, key, item, tag)

    assert journal.replay(connection, KEYS, OWNER, acknowledged=()) == {"claimed": 1}
    assert state(redis_client) == (0, True, True, True)
    assert (redis_client.hget("unacked", tag), redis_client.hget(CLAIMS_KEY, tag)) == as_claimed
    assert journal.replay(connection, KEYS, OWNER, acknowledged=()) == {"held": 1}  # idempotent
    assert state(redis_client) == (0, True, True, True)


def test_a_lost_claim_of_a_job_that_already_ran_is_taken_out_of_its_queue_and_forgotten(
    redis_client: redis.Redis, connection: Any
) -> None:
    journal = ClaimJournal()
    key, item, tag = claim(redis_client)
    journal.claimed(key, item, tag)
    lost(redis_client, key, item, tag)

    assert journal.replay(connection, KEYS, OWNER, acknowledged={tag}) == {"removed": 1}
    assert state(redis_client) == (0, False, False, False)
    assert journal.replay(connection, KEYS, OWNER, acknowledged={tag}) == {"done": 1}
    assert state(redis_client) == (0, False, False, False)


def test_a_lost_acknowledgement_is_made_again_and_a_claim_the_new_master_has_is_left_held(
    redis_client: redis.Redis, connection: Any
) -> None:
    journal = ClaimJournal()
    acked, running = claim(redis_client), claim(redis_client)
    for key, item, tag in (acked, running):
        journal.claimed(key, item, tag)

    assert journal.replay(connection, KEYS, OWNER, acknowledged={acked[2]}) == {"acked": 1, "held": 1}
    assert redis_client.smembers(HELD) == {running[2].encode()}
    assert redis_client.hkeys("unacked") == [running[2].encode()]
    assert redis_client.llen("default") == 0


def test_a_message_another_worker_took_meanwhile_is_left_to_it(redis_client: redis.Redis, connection: Any) -> None:
    journal = ClaimJournal()
    key, item, tag = claim(redis_client)
    journal.claimed(key, item, tag)
    redis_client.delete("unacked", "unacked_index", CLAIMS_KEY, HELD)  # lost here, and not queued: taken

    assert journal.replay(connection, KEYS, OWNER, acknowledged=()) == {"gone": 1}
    assert state(redis_client) == (0, False, False, False)


def test_only_the_claims_of_the_window_are_sent_again(redis_client: redis.Redis, connection: Any) -> None:
    journal = ClaimJournal(window_s=0.2)
    old = claim(redis_client)
    journal.claimed(*old)
    lost(redis_client, *old)
    time.sleep(0.3)  # the journal's window is measured on the monotonic clock: nothing else to wait on
    assert journal.replay(connection, KEYS, OWNER, acknowledged=()) == {}
    assert redis_client.llen("default") == 1  # older than the window: left queued (it was replicated, or is lost)


def test_a_message_this_worker_handed_back_is_left_in_its_queue(redis_client: redis.Redis, connection: Any) -> None:
    # Given a claim this worker rejected with requeue: the message is queued for anyone again
    journal = ClaimJournal()
    key, item, tag = claim(redis_client)
    journal.claimed(key, item, tag)
    lost(redis_client, key, item, tag)
    # When the journal is replayed
    verdicts = journal.replay(connection, KEYS, OWNER, acknowledged=(), handed_back={tag})
    # Then it is not claimed again (held by a worker that no longer runs it, it would wait for its restart)
    assert verdicts == {}
    assert state(redis_client) == (1, False, False, False)


def test_a_replay_that_fails_raises_and_leaves_the_connection_closed_not_half_read(
    redis_client: redis.Redis, connection: Any
) -> None:
    # Given two claims, and a queue key the script cannot read (another program's string)
    journal = ClaimJournal()
    for _ in range(2):
        key, item, tag = claim(redis_client)
        journal.claimed(key, item, tag)
    redis_client.delete("default")
    redis_client.delete("unacked", "unacked_index", CLAIMS_KEY, HELD)
    redis_client.set("default", "not a list")
    # When the journal is replayed, then the script's error is raised
    with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
        journal.replay(connection, KEYS, OWNER, acknowledged=())
    # and the connection, whose second reply was never read, was closed: its next command gets its own reply
    connection.send_command("PING")
    assert connection.read_response() in (b"PONG", "PONG")
