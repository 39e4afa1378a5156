"""The claim (``conveyor.broker.fetch.claim``, ``lua/claim.lua``): which message a fetch takes, in which order,
what it records, and what it refuses, on the test Redis.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
import redis
from celery import Celery

from conveyor.broker.dead.dead_set import DeadSet
from conveyor.broker.fetch.claim import CLAIM, NOT_A_MESSAGE, discarded_over_limit, parse_envelope
from conveyor.broker.fetch.owners import heartbeat_key, held_key
from conveyor.keys import CLAIMS_KEY, LIMITS_KEY, LIMITS_TO_KEY, PAUSED_KEY, SCHEDULED_KEY, WAKE_PREFIX
from conveyor.testing import worker_thread
from tests.conveyor.broker.owned_queue import QUEUE, send
from tests.conveyor.broker.protected import protect_victims
from tests.jobs import RECORDER, EchoJob
from tests.redis_reading import queue_keys


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


def _rewrite_next(client: redis.Redis, queue: str, headers: dict[str, Any]) -> str:
    """Take the newest message of ``queue``, give it ``headers``, push it back (as a message writer can)."""
    [key] = [key for key in queue_keys(queue) if client.llen(key)]
    message = json.loads(client.lpop(key))  # type: ignore[arg-type]
    message["headers"].update(headers)
    client.lpush(key, json.dumps(message))
    return str(message["headers"]["id"])


FORGED = {
    "throttle on the scheduled set": {"conveyor_throttle": {"key": SCHEDULED_KEY, "limit": 10**9, "period": 1}},
    "limit on the dead set": {"conveyor_limit": {"key": "conveyor:dead", "to": 1, "duration": 1}},
    "limit on a blocked list": {"conveyor_limit": {"key": "conveyor:limit:x:blocked", "to": 1}},
    "throttle on a lock": {"conveyor_throttle": {"key": "conveyor:throttle:", "limit": 1, "period": 1}},
    "throttle as text": {"conveyor_throttle": "conveyor:scheduled"},
}


def test_a_forged_control_header_is_buried_with_its_reason_and_touches_nothing(
    celery_app: Any, redis_client: redis.Redis
) -> None:
    RECORDER.clear()
    protect_victims(redis_client)
    redis_client.lpush("conveyor:limit:x:blocked", "someone's blocked job")
    forged = {}
    for name, headers in FORGED.items():
        EchoJob.perform_later(name)
        forged[_rewrite_next(redis_client, "default", headers)] = name
    last = EchoJob.perform_later("after the forged ones")
    scheduled_before = redis_client.zrange(SCHEDULED_KEY, 0, -1, withscores=True)

    with worker_thread(celery_app, queues=["default"]):
        RECORDER.wait_for(lambda records: any(r.get("job_id") == last.job_id for r in records))

    assert [r["args"] for r in RECORDER.of("echo")] == [("after the forged ones",)]  # no forged one ran
    assert redis_client.zrange(SCHEDULED_KEY, 0, -1, withscores=True) == scheduled_before
    assert redis_client.ttl(SCHEDULED_KEY) == -1
    assert redis_client.ttl("conveyor:dead") == -1
    assert redis_client.lrange("conveyor:limit:x:blocked", 0, -1) == [b"someone's blocked job"]
    dead = DeadSet(redis_client)
    assert dead.get("dead-victim") is not None
    buried = [record for record in dead.list(limit=100) if record.get("raw_entry")]
    texts = {record["id"]: record["reason"] for record in buried}
    assert len(buried) == len(FORGED)
    for reason in texts.values():
        assert "header names no key under conveyor:" in reason
    assert not redis_client.sismember(LIMITS_KEY, "conveyor:dead")


# The claim script called as reliable_fetch calls it, with the lists in the fetch order given.
OWNER = "owner-under-test"


def claim(client: redis.Redis, *lists: str, owner: str = OWNER, no_ack: bool = False) -> Any:
    keys = [
        "unacked",
        "unacked_index",
        CLAIMS_KEY,
        held_key(owner) if owner else "",
        heartbeat_key(owner) if owner else "",
        SCHEDULED_KEY,
        LIMITS_KEY,
        LIMITS_TO_KEY,
        PAUSED_KEY,
        *lists,
    ]
    return CLAIM(client, keys, [time.time(), owner, WAKE_PREFIX, 0.5, int(no_ack)])


def envelope(job_id: str, routing: dict[str, Any] | None = None, **headers: Any) -> str:
    properties: dict[str, Any] = {"delivery_tag": f"tag-{job_id}", "body_encoding": "base64"}
    if routing is not None:
        properties["delivery_info"] = routing
    return json.dumps({"body": "e30=", "headers": {"id": job_id, **headers}, "properties": properties})


@pytest.fixture
def alive(redis_client: redis.Redis) -> redis.Redis:
    """The test Redis with OWNER's heartbeat set: a live owner may claim."""
    redis_client.set(heartbeat_key(OWNER), "{}", px=30_000)
    return redis_client


def test_a_claim_takes_the_oldest_message_of_the_first_non_empty_list_in_the_order_given(
    alive: redis.Redis,
) -> None:
    # Given kombu's fetch order for queues [high, low]: every queue's priority-0 list, then priority 5
    order = ["high", "low", "high\x06\x165", "low\x06\x165"]
    alive.lpush("low\x06\x165", envelope("low-5"))
    alive.lpush("high\x06\x165", envelope("high-5-first"), envelope("high-5-second"))
    alive.lpush("low", envelope("low-0"))

    # When claims run until nothing is left
    taken = []
    while reply := claim(alive, *order):
        taken.append((reply[0].decode(), json.loads(reply[1])["headers"]["id"], reply[2]))

    # Then priority 0 of a lower queue comes first, then each list oldest first, in the order given
    assert taken == [
        ("low", "low-0", b"ok"),
        ("high\x06\x165", "high-5-first", b"ok"),
        ("high\x06\x165", "high-5-second", b"ok"),
        ("low\x06\x165", "low-5", b"ok"),
    ]


def test_a_claimed_message_is_recorded_as_unacked_and_held_by_its_owner_byte_for_byte(alive: redis.Redis) -> None:
    # Given a message sent without its routing, on priority list 3 of queue q
    item = envelope("job-1")
    alive.lpush("q\x06\x163", item)

    # When it is claimed
    source, claimed, verdict, tag = claim(alive, "q\x06\x163")

    # Then it is returned as sent, and recorded where kombu and the super fetch look for it
    assert (source, claimed, verdict, tag) == (b"q\x06\x163", item.encode(), b"ok", b"tag-job-1")
    assert json.loads(alive.hget("unacked", "tag-job-1")) == [json.loads(item), "", "q"]  # type: ignore[arg-type]
    assert abs(alive.zscore("unacked_index", "tag-job-1") - time.time()) < 5  # type: ignore[operator]
    assert alive.hget(CLAIMS_KEY, "tag-job-1") == f"{OWNER} {len(item)} q\x06\x163".encode()
    assert alive.smembers(held_key(OWNER)) == {b"tag-job-1"}


def test_a_paused_queue_is_skipped_at_every_priority_and_the_next_queue_served(alive: redis.Redis) -> None:
    # Given queue a paused, with messages at priorities 0 and 5, and queue b after it
    alive.sadd(PAUSED_KEY, "a")
    alive.lpush("a", envelope("a-0"))
    alive.lpush("a\x06\x165", envelope("a-5"))
    alive.lpush("b\x06\x165", envelope("b-5"))

    # When a claim runs over a then b
    reply = claim(alive, "a", "b", "a\x06\x165", "b\x06\x165")

    # Then b's message comes out and a's wait where they were
    assert json.loads(reply[1])["headers"]["id"] == "b-5"
    assert (alive.llen("a"), alive.llen("a\x06\x165")) == (1, 1)
    assert claim(alive, "a", "a\x06\x165") is None


BAD_ENTRIES = {
    "not JSON": "garbage",
    "a JSON array": "[1, 2]",
    "no properties": json.dumps({"body": "e30="}),
    "a body that is not a string": json.dumps({"body": 1, "properties": {"delivery_tag": "t"}}),
    "an empty delivery tag": json.dumps({"body": "", "properties": {"delivery_tag": ""}}),
    "a numeric delivery tag": json.dumps({"body": "", "properties": {"delivery_tag": 7}}),
    "a numeric exchange": json.dumps(
        {"body": "", "properties": {"delivery_tag": "t", "delivery_info": {"exchange": 1}}}
    ),
    "a numeric routing key": json.dumps(
        {"body": "", "properties": {"delivery_tag": "t", "delivery_info": {"routing_key": 2}}}
    ),
}


@pytest.mark.parametrize("entry", BAD_ENTRIES.values(), ids=BAD_ENTRIES.keys())
def test_an_entry_that_is_not_a_kombu_envelope_is_returned_as_bad_and_recorded_nowhere(
    alive: redis.Redis, entry: str
) -> None:
    # Given an entry that is not a kombu message, ahead of a message
    alive.lpush("q", entry)

    # When a claim takes it
    reply = claim(alive, "q")

    # Then it comes out as 'bad' (to be buried), is recorded nowhere, and Python's check refuses it too
    assert reply == [b"q", entry.encode(), b"bad"]
    assert alive.llen("q") == 0
    assert alive.hlen("unacked") == alive.hlen(CLAIMS_KEY) == alive.scard(held_key(OWNER)) == 0
    with pytest.raises(ValueError):  # noqa: PT011  # the message differs by entry
        parse_envelope(entry, "q")


def test_a_message_the_claim_accepts_python_accepts_with_its_routing_completed() -> None:
    # Given messages with no routing, routing as an empty JSON array, and full routing
    bare = envelope("a")
    as_array = envelope("b", routing=[])  # type: ignore[arg-type]
    routed = envelope("c", routing={"exchange": "x", "routing_key": "elsewhere"})

    # Then parse_envelope fills in what is missing with the queue, and keeps what is given
    assert parse_envelope(bare, "q")["properties"]["delivery_info"] == {"exchange": "", "routing_key": "q"}
    assert parse_envelope(as_array, "q")["properties"]["delivery_info"] == {"exchange": "", "routing_key": "q"}
    assert parse_envelope(routed, "q")["properties"]["delivery_info"] == {"exchange": "x", "routing_key": "elsewhere"}
    with pytest.raises(ValueError, match="delivery_info is not an object"):
        parse_envelope(envelope("d", routing="default"), "q")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="^" + NOT_A_MESSAGE.replace("(", r"\(").replace(")", r"\)") + "$"):
        parse_envelope(b"{}", "q")


def test_a_control_header_naming_a_key_outside_its_prefix_is_refused_before_anything_is_written(
    alive: redis.Redis,
) -> None:
    # Given a message whose limit names the dead set, and one whose throttle names a string under its prefix
    alive.set("conveyor:throttle:x", "a string, not a window")
    limit = envelope("forged-limit", conveyor_limit={"key": "conveyor:dead", "to": 1})
    throttle = envelope("forged-throttle", conveyor_throttle={"key": "conveyor:throttle:x", "limit": 1, "period": 1})
    alive.lpush("q", limit, throttle)

    # When each is claimed
    first, second = claim(alive, "q"), claim(alive, "q")

    # Then each is returned as forged with why, and no key was written
    assert first[:3] == [b"q", limit.encode(), b"forged"]
    assert b"conveyor_limit header names no key under conveyor:limit:" in first[3]
    assert second[:3] == [b"q", throttle.encode(), b"forged"]
    assert b"conveyor_throttle header names no key under conveyor:throttle:" in second[3]
    assert alive.keys("conveyor:limit*") == []
    assert not alive.exists("conveyor:dead", "unacked")
    assert alive.get("conveyor:throttle:x") == b"a string, not a window"


def test_a_message_over_its_concurrency_limit_waits_in_the_blocked_list_and_the_next_is_claimed(
    alive: redis.Redis,
) -> None:
    # Given a limit of 1 held by another job, a message under it, and a message without limit behind it
    key = "conveyor:limit:x.ReportJob:42"
    alive.zadd(key, {"holder": time.time() + 600})
    limited = envelope("limited", conveyor_limit={"key": key, "to": 1, "duration": 60})
    alive.lpush("q", limited, envelope("free"))

    # When one claim runs
    reply = claim(alive, "q")

    # Then the limited message is set aside in the blocked list (with its source) and the free one claimed
    assert json.loads(reply[1])["headers"]["id"] == "free"
    assert alive.lrange(key + ":blocked", 0, -1) == [f"1 q{limited}".encode()]
    assert alive.smembers(LIMITS_KEY) == {key.encode()}
    assert alive.hget(LIMITS_TO_KEY, key) == b"1"
    assert not alive.hexists("unacked", "tag-limited")


def test_a_message_over_a_discarding_limit_is_returned_as_discarded_and_named_in_the_log_line(
    alive: redis.Redis,
) -> None:
    # Given a limit of 1 held by another job, and a message under it that discards on conflict
    key = "conveyor:limit:x.ReportJob:42"
    alive.zadd(key, {"holder": time.time() + 600})
    item = envelope("dropped", task="x.ReportJob", conveyor_limit={"key": key, "to": 1, "discard": True})
    alive.lpush("q", item)

    # When it is claimed
    reply = claim(alive, "q")

    # Then it is returned as discarded, recorded nowhere, and the log line names the job and the limit
    assert reply == [b"q", item.encode(), b"discarded"]
    assert alive.llen(key + ":blocked") == 0
    assert alive.hlen("unacked") == 0
    assert discarded_over_limit(reply[1]) == (
        f"x.ReportJob (Job ID: dropped) discarded: 1 already running for {key} "
        "(limits_concurrency on_conflict='discard')"
    )
    assert discarded_over_limit(b"not json") == "a job over its concurrency limit was discarded"


def test_a_message_over_its_throttle_goes_to_the_scheduled_set_for_when_the_window_frees(alive: redis.Redis) -> None:
    # Given a throttle of 1 start per 10 s whose window holds a start 2 s ago
    window = "conveyor:throttle:x.MailJob:all"
    started = time.time() - 2
    alive.zadd(window, {"earlier:1": started})
    item = envelope("throttled", conveyor_throttle={"key": window, "limit": 1, "period": 10})
    alive.lpush("q\x06\x165", item)

    # When it is claimed
    assert claim(alive, "q\x06\x165") is None

    # Then it waits in the scheduled set, due when the oldest start leaves the window (plus 5% jitter here)
    [(member, due)] = alive.zrange(SCHEDULED_KEY, 0, -1, withscores=True)
    assert json.loads(member) == {
        "key": "q\x06\x165",
        "message": item,
        "wake": WAKE_PREFIX + "q",
        "reason": "throttled",
    }
    assert due == pytest.approx(started + 10 * 1.05, abs=0.01)
    assert alive.hlen("unacked") == 0


def test_a_consumer_without_acknowledgements_takes_the_message_as_it_is_and_records_nothing(
    redis_client: redis.Redis,
) -> None:
    # Given a message under a limit, for a consumer with no owner that acknowledges nothing
    item = envelope("reply", conveyor_limit={"key": "conveyor:limit:x:1", "to": 1})
    redis_client.lpush("q", item)

    # When it claims
    reply = claim(redis_client, "q", owner="", no_ack=True)

    # Then the message comes out, and neither an unacked record nor a limit slot is written
    assert reply == [b"q", item.encode(), b"ok", b"tag-reply"]
    assert redis_client.keys("*") == []
