"""``celery -A app jobs queues [pause|resume QUEUE]``: what waits where, and pausing a queue, on the pack's app."""

from __future__ import annotations

from typing import Any

import pytest
import redis

from conveyor.cli.jobs_group import jobs
from conveyor.keys import PAUSED_KEY
from tests.conveyor.cli.running import error_line, invoke
from tests.jobs import EchoJob


def rows(listing: str) -> dict[str, str]:
    return {line.split()[0]: line for line in listing.splitlines()[1:]}


def test_the_listing_shows_each_queue_by_priority_and_one_no_worker_consumes(
    celery_app: Any, redis_client: redis.Redis
) -> None:
    # Given jobs in a queue no worker consumes, one of them at priority 2
    EchoJob.set(queue="reprots").perform_later(1)
    EchoJob.set(queue="reprots", priority=2).perform_later(2)
    # When the queues are listed
    result = invoke(celery_app, jobs, "queues")
    # Then the app's queue is listed empty and the other with its jobs by priority
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0].split() == ["queue", "waiting", "by", "priority"]
    listed = rows(result.stdout)
    assert listed["default"].split()[:3] == ["default", "0", "-"]
    assert listed["reprots"].split()[:5] == ["reprots", "2", "2:", "1,", "5:"]
    assert "0 consumer(s), no worker consumes it" in listed["reprots"]


def test_pause_and_resume_mark_the_queue_and_the_listing_shows_it(celery_app: Any, redis_client: redis.Redis) -> None:
    paused = invoke(celery_app, jobs, "queues", "pause", "default")
    assert paused.stdout.startswith("Paused default: workers take no job from it until")
    assert redis_client.smembers(PAUSED_KEY) == {b"default"}
    assert "PAUSED" in rows(invoke(celery_app, jobs, "queues").stdout)["default"]
    assert invoke(celery_app, jobs, "queues", "resume", "default").stdout == "Resumed default\n"
    assert redis_client.smembers(PAUSED_KEY) == set()


@pytest.mark.parametrize(
    ("queue", "message"),
    [
        ("defualt", "Error: no queue 'defualt': did you mean 'default'? it is not configured"),
        ("conveyor:dead", "Error: 'conveyor:dead' is not a queue: it is a key conveyor, kombu, redbeat or Celery keep"),
        ("two words", "Error: QUEUE must be a queue name of 1-200 letters"),
    ],
)
def test_a_queue_that_is_not_one_is_refused_in_one_line_and_nothing_is_paused(
    celery_app: Any, redis_client: redis.Redis, queue: str, message: str
) -> None:
    result = invoke(celery_app, jobs, "queues", "pause", queue)
    assert result.exit_code == 2
    assert error_line(result).startswith(message)
    assert redis_client.smembers(PAUSED_KEY) == set()
