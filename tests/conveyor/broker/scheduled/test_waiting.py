"""Jobs waiting in the scheduled set, read and acted on as the Scheduled and Retries pages do, on the test Redis."""

from __future__ import annotations

import json
import time

import redis

from conveyor import Job, retry_on
from conveyor.broker.dead.dead_set import DeadSet
from conveyor.broker.scheduled import waiting
from conveyor.keys import SCHEDULED_KEY, WAKE_PREFIX
from conveyor.records import dead_record
from tests.jobs import EchoJob
from tests.redis_reading import queued_messages


@retry_on(ValueError, wait=60, attempts=3, jitter=0)
class FlakyImportJob(Job):
    def perform(self, path: str) -> None:
        raise ValueError(f"{path} is locked")


def test_waiting_jobs_are_told_apart_searched_and_run_now_deleted_or_killed(redis_client: redis.Redis) -> None:
    later = EchoJob.set(wait=600).perform_later("report-7")
    retried = FlakyImportJob("/data/in.csv")
    retried.perform_now()  # fails: its retry waits 60 s in the scheduled set, the error in its header
    other = EchoJob.set(wait=900).perform_later("other")

    scheduled = waiting.waiting(redis_client, kind="scheduled")
    [retry] = waiting.waiting(redis_client, kind="retry")
    assert [job.id for job in scheduled] == [later.job_id, other.job_id]  # soonest first
    assert (retry.id, retry.job_class, retry.attempt, retry.attempts, retry.error) == (
        retried.job_id,
        "FlakyImportJob",
        2,
        3,  # "attempt 2 of 3": its retry_on allows 3
        "ValueError: /data/in.csv is locked",
    )
    assert all(job.attempts is None for job in scheduled)  # not retries: no "of"
    assert retry.arguments == "('/data/in.csv',)"
    assert [job.id for job in waiting.waiting(redis_client, search="REPORT-7")] == [later.job_id]
    assert [job.id for job in waiting.waiting(redis_client, search="locked")] == [retried.job_id]

    assert waiting.run_now(redis_client, later.job_id)
    assert [m["headers"]["id"] for m in queued_messages(redis_client, "default")] == [later.job_id]
    assert not waiting.run_now(redis_client, later.job_id)  # moved already: nothing twice

    assert waiting.kill(redis_client, retried.job_id, "admin (test)")
    record = DeadSet(redis_client).get(retried.job_id)
    assert record is not None
    assert record["reason"] == "killed while waiting (retry) by admin (test)"
    assert record["error"] == "ValueError: /data/in.csv is locked"
    assert record["message"]["headers"]["id"] == retried.job_id  # retryable from the dead set

    assert waiting.delete(redis_client, other.job_id)
    assert waiting.waiting(redis_client) == []


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
