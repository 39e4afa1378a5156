"""Jobs waiting in the scheduled set, read and acted on as the Scheduled and Retries pages do, on the test Redis."""

from __future__ import annotations

import redis

from conveyor import Job, retry_on
from conveyor.broker.dead.dead_set import DeadSet
from conveyor.broker.scheduled import waiting
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
    assert (retry.id, retry.job_class, retry.attempt, retry.error) == (
        retried.job_id,
        "FlakyImportJob",
        2,
        "ValueError: /data/in.csv is locked",
    )
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
