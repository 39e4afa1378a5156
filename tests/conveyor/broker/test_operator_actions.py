"""Operator actions and message headers touch only the keys conveyor owns for them (issue 25), on the test Redis.

A queue action (pause, resume, clear) refuses a name that is not a known queue, and a
reserved key above all; clearing deletes lists only. A message's control headers name keys
an attacker with write access to one message chooses: the claim, recovery, sweep and release
scripts use a key only under its own prefix and of its own type, and bury the message
otherwise. Each test here failed before the fix.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
import redis

from conveyor.broker.controls import release_slot, release_unique, sweep_limits, unique_put
from conveyor.broker.dead.dead_set import DeadSet
from conveyor.broker.scheduled import waiting
from conveyor.broker.views.queue_state import action_refusal, known_queues, pause, purge, resume
from conveyor.errors import ConveyorError
from conveyor.keys import LIMITS_KEY, LIMITS_TO_KEY, SCHEDULED_KEY, WAKE_PREFIX
from conveyor.records import dead_record
from conveyor.testing import worker_thread
from tests.jobs import RECORDER, EchoJob
from tests.redis_reading import queue_keys

pytestmark = pytest.mark.redis

RESERVED = [
    "conveyor:scheduled",
    "conveyor:dead",
    "conveyor:owners",
    "conveyor:paused",
    "_kombu.binding.default",
    "unacked",
    "redbeat::schedule",
    "celery-task-meta-1",
    "x.reply.celery.pidbox",
]


def _protected(client: redis.Redis) -> None:
    """What an attack on the keys would destroy: a scheduled job and a dead record."""
    EchoJob.set(wait=3600).perform_later("scheduled-victim")
    DeadSet(client).add(dead_record("dead-victim", "r", error="E", task="x.Y", queue="default"))


@pytest.mark.parametrize("name", RESERVED)
def test_no_action_touches_a_reserved_key(celery_app: Any, redis_client: redis.Redis, name: str) -> None:
    _protected(redis_client)
    before = {key: redis_client.type(key) for key in redis_client.keys("*")}
    for action in ("pause", "resume", "clear"):
        refusal = action_refusal(celery_app, redis_client, name, action)
        assert refusal is not None, action
        assert "is not a queue" in refusal, (action, refusal)
    assert {key: redis_client.type(key) for key in redis_client.keys("*")} == before
    assert redis_client.zcard(SCHEDULED_KEY) == 1


def test_a_queue_no_worker_knows_is_refused_with_did_you_mean_and_leaves_no_key(
    celery_app: Any, redis_client: redis.Redis
) -> None:
    refusal = action_refusal(celery_app, redis_client, "defualt", "pause")
    assert refusal is not None
    assert refusal.startswith("no queue 'defualt': did you mean 'default'?")
    assert "nothing was paused" in refusal
    assert action_refusal(celery_app, redis_client, "nosuchqueue", "resume") is not None
    assert redis_client.keys(WAKE_PREFIX + "*") == []
    # Known: configured, holding jobs (a queue_as typo's queue), or paused.
    EchoJob.set(queue="typo_queue").perform_later(1)
    assert {"default", "typo_queue"} <= known_queues(celery_app, redis_client)
    assert action_refusal(celery_app, redis_client, "typo_queue", "clear") is None
    pause(redis_client, "default")
    assert action_refusal(celery_app, redis_client, "default", "resume") is None
    assert resume(redis_client, "default")


def test_clear_deletes_the_queue_lists_only_and_says_what_it_kept(celery_app: Any, redis_client: redis.Redis) -> None:
    EchoJob.set(priority=3).perform_later(1)
    EchoJob.perform_later(2)
    redis_client.zadd("default\x06\x169", {"not-a-list": 1})  # another program's structure under a queue's name
    with pytest.raises(ConveyorError, match=r"cleared 2 job\(s\) from default; 1 key\(s\) of its name are not lists"):
        purge(celery_app, redis_client, "default")
    assert redis_client.zcard("default\x06\x169") == 1
    assert redis_client.llen("default") == 0
    EchoJob.perform_later(3)
    assert purge(celery_app, redis_client, "typo_free") == 0
    redis_client.delete("default\x06\x169")
    assert purge(celery_app, redis_client, "default") == 1


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
    _protected(redis_client)
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


def test_the_sweep_forgets_a_forged_limit_key_without_touching_it(redis_client: redis.Redis) -> None:
    _protected(redis_client)
    # What a forged message left before claims checked names: the dead set registered as a limit key.
    redis_client.sadd(LIMITS_KEY, "conveyor:dead", SCHEDULED_KEY)
    redis_client.hset(LIMITS_TO_KEY, mapping={"conveyor:dead": 1, SCHEDULED_KEY: 1})
    redis_client.zadd("conveyor:dead", {"old": 1.0})  # due long ago: an honest sweep of a limit would drop it
    assert sweep_limits(redis_client) == 0
    assert redis_client.zscore("conveyor:dead", "old") == 1.0
    assert redis_client.zcard(SCHEDULED_KEY) == 1
    assert redis_client.smembers(LIMITS_KEY) == set()


def test_release_and_send_refuse_keys_outside_their_prefix(celery_app: Any, redis_client: redis.Redis) -> None:
    _protected(redis_client)
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


def _commands(client: redis.Redis) -> dict[str, int]:
    stats = client.info("commandstats")
    return {name.removeprefix("cmdstat_"): int(value["calls"]) for name, value in stats.items()}


def test_a_selection_of_500_acts_in_one_read_and_one_script_with_20000_waiting(redis_client: redis.Redis) -> None:
    entries = {}
    for n in range(20_000):
        message = json.dumps(
            {
                "body": "",
                "headers": {"id": f"job-{n}", "task": "x.Y", "conveyor": {"queue": "q"}},
                "properties": {"delivery_tag": f"t{n}"},
            }
        )
        entries[json.dumps({"key": "q", "message": message, "id": f"job-{n}", "wake": WAKE_PREFIX + "q"})] = 1e10 + n
    redis_client.zadd(SCHEDULED_KEY, entries)
    selected = [f"job-{n}" for n in range(0, 20_000, 40)]  # 500, spread over the whole set
    before = _commands(redis_client)
    outcome = waiting.run_now(redis_client, selected)
    after = _commands(redis_client)
    assert outcome == dict.fromkeys(selected, True)
    assert redis_client.llen("q") == 500
    assert after.get("zrange", 0) - before.get("zrange", 0) == 20_000 // waiting.CHUNK + 1  # one read of the set
    scripts = sum(after.get(name, 0) - before.get(name, 0) for name in ("evalsha", "eval"))
    assert scripts <= 2  # one script (a second only if Redis had to load it)
    assert waiting.run_now(redis_client, selected[:3]) == dict.fromkeys(selected[:3], False)  # nothing twice


def test_a_retry_behind_20000_scheduled_jobs_is_listed_killed_and_reachable_by_id(redis_client: redis.Redis) -> None:
    entries = {}
    for n in range(20_001):
        retry = n == 20_000
        headers = {
            "id": f"job-{n}",
            "task": "x.ImportJob",
            "retries": 2 if retry else 0,
            "conveyor": {"queue": "q", **({"error": "OperationalError: locked"} if retry else {})},
        }
        message = json.dumps({"body": "e30=", "headers": headers, "properties": {"body_encoding": "base64"}})
        entries[json.dumps({"key": "q", "message": message, "id": f"job-{n}"})] = 1e10 + n
    redis_client.zadd(SCHEDULED_KEY, entries)
    found = waiting.listing(redis_client, kinds=("retry",), limit=500)
    assert (found.total, [job.id for job in found.jobs]) == (1, ["job-20000"])
    page = waiting.listing(redis_client, kinds=("scheduled",), limit=200, offset=19_900)
    assert (page.total, page.jobs[0].id, page.jobs[-1].id) == (20_000, "job-19900", "job-19999")
    assert waiting.kill(redis_client, "job-20000", "admin (test)")
    assert DeadSet(redis_client).get("job-20000")["error"] == "OperationalError: locked"  # type: ignore[index]
    assert waiting.delete(redis_client, ["job-19999", "job-0", "missing"]) == {
        "job-19999": True,
        "job-0": True,
        "missing": False,
    }
    assert redis_client.zcard(SCHEDULED_KEY) == 19_998


def test_killing_keeps_the_dead_sets_cap(redis_client: redis.Redis) -> None:
    for n in range(3):
        EchoJob.set(wait=600).perform_later(n)
    ids = [job.id for job in waiting.waiting(redis_client)]
    dead = DeadSet(redis_client, max_jobs=2)
    dead.add(
        dead_record("oldest", "r", error="E", task="x.Y", queue="default"),
        now=time.time() - 60,
    )
    assert all(waiting.kill(redis_client, ids, "admin (test)").values())
    dead.trim()
    assert dead.count() == 2
    assert dead.get("oldest") is None
