"""``celery -A app jobs scheduled|retries``: listing, searching and acting on waiting jobs, on the pack's app."""

from __future__ import annotations

from typing import Any

import redis

from conveyor import Job, retry_on
from conveyor.cli.jobs_group import jobs
from conveyor.keys import SCHEDULED_KEY
from tests.conveyor.cli.running import error_line, invoke
from tests.jobs import EchoJob


def test_nothing_waiting_is_said_with_what_each_listing_holds(celery_app: Any, redis_client: redis.Redis) -> None:
    assert invoke(celery_app, jobs, "scheduled").stdout == (
        "0 job(s) scheduled (set(wait=…), set(wait_until=…), throttled)\n"
    )
    assert invoke(celery_app, jobs, "retries", "list").stdout == "0 job(s) waiting for a retry\n"


def test_a_scheduled_job_is_listed_searched_and_deleted(celery_app: Any, redis_client: redis.Redis) -> None:
    # Given a job waiting ten minutes, and another
    job = EchoJob.set(wait=600).perform_later("report-7")
    EchoJob.set(wait=600).perform_later("other")
    # When the waiting jobs are searched
    listing = invoke(celery_app, jobs, "scheduled", "list", "--search", "report-7").stdout
    # Then only the match is listed, with its class, arguments, queue and when it is due
    lines = listing.splitlines()
    assert lines[0].startswith("1 job(s) scheduled")
    assert lines[1].startswith(f"{job.job_id}  EchoJob('report-7',)  default  due ")
    assert "(in 9m5" in lines[1] or "(in 10m00s)" in lines[1]
    assert len(lines) == 2
    # And --limit cuts the listing, saying so
    assert invoke(celery_app, jobs, "scheduled", "list", "--limit", "1").stdout.startswith(
        "2 job(s) scheduled (set(wait=…), set(wait_until=…), throttled), 1 shown (--limit)"
    )
    # When it is deleted, it is gone from the set
    assert invoke(celery_app, jobs, "scheduled", "delete", job.job_id).stdout == f"Deleted {job.job_id}\n"
    assert redis_client.zcard(SCHEDULED_KEY) == 1


def test_acting_on_a_job_that_is_not_waiting_is_one_line(celery_app: Any, redis_client: redis.Redis) -> None:
    result = invoke(celery_app, jobs, "retries", "run", "no-such-id")
    assert result.exit_code == 1
    assert error_line(result) == "Error: no waiting job no-such-id"


def test_a_limit_below_one_is_refused_before_redis_is_read(celery_app: Any) -> None:
    result = invoke(celery_app, jobs, "scheduled", "list", "--limit", "0")
    assert result.exit_code == 2
    assert error_line(result) == "Error: Invalid value for '--limit': 0 is not in the range x>=1."


@retry_on(ValueError, wait=600, attempts=4, jitter=0)
class LockedFileJob(Job):
    def perform(self, path: str) -> None:
        raise ValueError(f"{path} is locked")


def test_a_retry_is_listed_with_its_attempt_of_how_many_and_its_error(
    celery_app: Any, redis_client: redis.Redis
) -> None:
    job = LockedFileJob("/data/in.csv")
    job.perform_now()  # fails: its retry waits ten minutes in the scheduled set
    lines = invoke(celery_app, jobs, "retries", "list").stdout.splitlines()
    assert lines[0] == "1 job(s) waiting for a retry"
    assert lines[1].startswith(f"{job.job_id}  LockedFileJob('/data/in.csv',)  default  due ")
    assert lines[1].endswith("  attempt 2 of 4")
    assert lines[2] == "  ValueError: /data/in.csv is locked"
