"""Unique locks, concurrency slots and throttle windows (``conveyor.broker.controls``): each script touches only
the keys under its own prefix (issue 25), takes and frees what it should, on the test Redis.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
import redis

from conveyor.broker.controls import (
    limit_keys,
    owned_key,
    release_slot,
    release_unique,
    sweep_limits,
    throttle_keys,
    unique_put,
)
from conveyor.broker.dead.dead_set import DeadSet
from conveyor.errors import ConveyorError
from conveyor.keys import LIMIT_PREFIX, LIMITS_KEY, LIMITS_TO_KEY, SCHEDULED_KEY, WAKE_PREFIX
from tests.conveyor.broker.protected import protect_victims


def test_the_sweep_forgets_a_forged_limit_key_without_touching_it(redis_client: redis.Redis) -> None:
    protect_victims(redis_client)
    # What a forged message left before claims checked names: the dead set registered as a limit key.
    redis_client.sadd(LIMITS_KEY, "conveyor:dead", SCHEDULED_KEY)
    redis_client.hset(LIMITS_TO_KEY, mapping={"conveyor:dead": 1, SCHEDULED_KEY: 1})
    redis_client.zadd("conveyor:dead", {"old": 1.0})  # due long ago: an honest sweep of a limit would drop it
    assert sweep_limits(redis_client) == 0
    assert redis_client.zscore("conveyor:dead", "old") == 1.0
    assert redis_client.zcard(SCHEDULED_KEY) == 1
    assert redis_client.smembers(LIMITS_KEY) == set()


def test_release_and_send_refuse_keys_outside_their_prefix(celery_app: Any, redis_client: redis.Redis) -> None:
    protect_victims(redis_client)
    redis_client.set("conveyor:heartbeat:victim", "job-1")
    assert not release_unique(redis_client, {"key": "conveyor:heartbeat:victim"}, "job-1")
    assert redis_client.get("conveyor:heartbeat:victim") == b"job-1"
    assert release_slot(redis_client, {"key": "conveyor:dead", "to": 5}, "dead-victim") == 0
    assert DeadSet(redis_client).get("dead-victim") is not None
    with pytest.raises(ConveyorError, match="names 'conveyor:paused', not a key under conveyor:unique:"):
        unique_put(redis_client, "conveyor:paused", 1000, "job-2", "default", WAKE_PREFIX + "default", "{}")
    assert not redis_client.exists("conveyor:paused")
    # A send to a reserved key (Flower's send-task takes any queue) would make a list the claim cannot read.
    with pytest.raises(ConveyorError, match="refused to send a message to 'conveyor:paused'"):
        celery_app.send_task("tests.jobs.EchoJob", queue="conveyor:paused")
    assert not redis_client.exists("conveyor:paused")


def test_a_control_header_key_is_used_only_under_its_own_prefix() -> None:
    assert owned_key({"key": "conveyor:limit:x.ReportJob:42", "to": 1}, LIMIT_PREFIX) == "conveyor:limit:x.ReportJob:42"
    assert owned_key({"key": "conveyor:scheduled"}, LIMIT_PREFIX) is None
    assert owned_key({"key": LIMIT_PREFIX}, LIMIT_PREFIX) is None  # the prefix alone names no key
    assert owned_key({"key": 42}, LIMIT_PREFIX) is None
    assert owned_key("conveyor:limit:x", LIMIT_PREFIX) is None


def test_a_unique_put_takes_the_lock_and_pushes_once_and_a_retry_of_the_holder_keeps_it(
    redis_client: redis.Redis,
) -> None:
    # Given job-1 sent under a @unique lock
    lock = "conveyor:unique:x.ReportJob:42"
    assert unique_put(redis_client, lock, 60_000, "job-1", "q", WAKE_PREFIX + "q", "m1") is None

    # When job-2 is sent under the same lock, then job-1 again (a retry)
    holder = unique_put(redis_client, lock, 60_000, "job-2", "q", WAKE_PREFIX + "q", "m2")
    retried = unique_put(redis_client, lock, 60_000, "job-1", "q", WAKE_PREFIX + "q", "m1-again")

    # Then job-2 is refused naming the holder and not pushed; job-1's retry is pushed; each push woke a worker
    assert (holder, retried) == ("job-1", None)
    assert redis_client.lrange("q", 0, -1) == [b"m1-again", b"m1"]
    assert redis_client.llen(WAKE_PREFIX + "q") == 2
    assert 0 < redis_client.pttl(lock) <= 60_000
    # and only the holder releases the lock
    assert not release_unique(redis_client, {"key": lock}, "job-2")
    assert release_unique(redis_client, {"key": lock}, "job-1")
    assert not redis_client.exists(lock)


def test_a_freed_slot_moves_a_blocked_job_back_to_the_head_of_its_queue(redis_client: redis.Redis) -> None:
    # Given a limit of 1 held by job-1, and job-2 blocked behind it, claimed from q's priority-5 list
    key, source = "conveyor:limit:x.ReportJob:42", "q\x06\x165"
    redis_client.zadd(key, {"job-1": time.time() + 600})
    redis_client.lpush(source, "next in line")
    redis_client.lpush(key + ":blocked", f"{len(source)} {source}job-2's message")

    # When job-1 ends and frees its slot
    released = release_slot(redis_client, {"key": key, "to": 1}, "job-1")

    # Then job-2's message is next out of its list (workers take from the right), and a worker is woken
    assert released == 1
    assert redis_client.lrange(source, 0, -1) == [b"next in line", b"job-2's message"]
    assert redis_client.llen(key + ":blocked") == 0
    assert redis_client.llen(WAKE_PREFIX + "q") == 1


def test_the_sweep_frees_expired_slots_and_the_read_models_show_limits_and_windows(
    redis_client: redis.Redis,
) -> None:
    # Given a limit of 2 with one slot expired, one held for 10 minutes, one job blocked; and a throttle window
    key = "conveyor:limit:x.ReportJob:42"
    now = time.time()
    redis_client.sadd(LIMITS_KEY, key)
    redis_client.hset(LIMITS_TO_KEY, key, 2)
    redis_client.zadd(key, {"expired": now - 1, "running": now + 600})
    redis_client.lpush(key + ":blocked", "1 qblocked job")
    redis_client.zadd("conveyor:throttle:x.MailJob:all", {"a:1": now, "b:2": now})
    redis_client.pexpire("conveyor:throttle:x.MailJob:all", 10_000)

    # When the heartbeat's sweep runs
    released = sweep_limits(redis_client)

    # Then the expired slot is freed for the blocked job, and the read models say what is in use
    assert released == 1
    assert redis_client.lrange("q", 0, -1) == [b"blocked job"]
    [limit] = limit_keys(redis_client)
    assert (limit["key"], limit["to"], limit["blocked"]) == (key, 2, 0)
    assert [job for job, _ in limit["holders"]] == ["running"]
    assert 590 < limit["holders"][0][1] <= 600
    [window] = throttle_keys(redis_client)
    assert (window["key"], window["starts"]) == ("conveyor:throttle:x.MailJob:all", 2)
    assert 0 < window["ttl_s"] <= 10


def test_the_read_model_names_what_a_limit_limits_and_its_blocked_jobs_oldest_first(
    redis_client: redis.Redis,
) -> None:
    # Given a limit of 1 on ReportJob's key 42:eu, held, with three jobs blocked behind it and one unreadable entry
    key = "conveyor:limit:x.ReportJob:42:eu"
    redis_client.sadd(LIMITS_KEY, key)
    redis_client.hset(LIMITS_TO_KEY, key, 1)
    redis_client.zadd(key, {"running": time.time() + 600})
    for job_id in ("first", "second", "third"):  # blocked in this order: LPUSH, as claim.lua does
        message = json.dumps({"headers": {"id": job_id, "task": "x.ReportJob"}, "body": ""})
        redis_client.lpush(key + ":blocked", f"1 q{message}")
    redis_client.lpush(key + ":blocked", "not an entry")

    # When the Busy page reads it, showing three blocked jobs
    [limit] = limit_keys(redis_client, blocked_shown=3)

    # Then it says which job class and key value it limits, how many wait, and the oldest of them first
    assert (limit["limits"], limit["value"], limit["blocked"]) == ("x.ReportJob", "42:eu", 4)
    assert limit["blocked_jobs"] == ["first", "second", "third"]
