"""Queues as an operator sees them and acts on them (``conveyor.broker.views.queue_state``), on the test Redis.

A queue action (pause, resume, clear) refuses a name that is not a known queue, and a
reserved key above all (issue 25: the tests moved here from ``test_operator_actions`` failed
before that fix); clearing deletes lists only. Known queues, depths and the overview are read
from Redis and the app's configuration.
"""

from __future__ import annotations

from typing import Any

import pytest
import redis

from conveyor.broker.views.queue_state import (
    action_refusal,
    known_queues,
    overview,
    pause,
    paused,
    priority_steps,
    purge,
    queue_depths,
    resume,
    waiting_in,
)
from conveyor.errors import ConveyorError
from conveyor.keys import SCHEDULED_KEY, WAKE_PREFIX
from tests.conveyor.broker.protected import protect_victims
from tests.jobs import EchoJob

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


@pytest.mark.parametrize("name", RESERVED)
def test_no_action_touches_a_reserved_key(celery_app: Any, redis_client: redis.Redis, name: str) -> None:
    protect_victims(redis_client)
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


def test_a_name_that_is_not_a_queue_name_is_refused_with_what_is_accepted(
    celery_app: Any, redis_client: redis.Redis
) -> None:
    refusal = action_refusal(celery_app, redis_client, "has space", "pause")
    assert refusal == ("QUEUE must be a queue name of 1-200 letters, digits, '_', '-', '.' or ':', but got 'has space'")
    assert paused(redis_client) == set()


def test_pause_and_resume_say_whether_they_changed_anything_and_resume_wakes_the_idle_workers(
    redis_client: redis.Redis,
) -> None:
    # When a queue is paused twice
    assert pause(redis_client, "low") is True
    assert pause(redis_client, "low") is False
    assert paused(redis_client) == {"low"}

    # Then resuming it once wakes its idle workers (10 tokens); a second resume changes nothing
    assert resume(redis_client, "low") is True
    assert redis_client.llen(WAKE_PREFIX + "low") == 10
    assert resume(redis_client, "low") is False
    assert paused(redis_client) == set()


def test_depths_count_every_configured_queue_at_every_priority_step(celery_app: Any, redis_client: redis.Redis) -> None:
    # Given 2 jobs at priority 5 and 1 at priority 0 in the default queue, and a job in an unconfigured queue
    EchoJob.perform_later(1)
    EchoJob.perform_later(2)
    EchoJob.set(priority=0).perform_later(3)
    EchoJob.set(queue="elsewhere").perform_later(4)

    # When the depths are read
    depths = queue_depths(celery_app)

    # Then each configured queue has a row per priority step, counted; other queues are not read
    assert [(queue, step) for queue, step, _ in depths] == [("default", step) for step in priority_steps(celery_app)]
    assert {step: waiting for _, step, waiting in depths if waiting} == {0: 1, 5: 2}
    assert waiting_in(celery_app, redis_client, "default") == 3


def test_the_overview_shows_latency_and_flags_a_queue_no_worker_consumes(
    celery_app: Any, redis_client: redis.Redis
) -> None:
    # Given a job in the default queue and one in a queue that is not configured (a queue_as typo)
    EchoJob.perform_later(1)
    EchoJob.set(queue="reprots").perform_later(2)

    # When the overview is read, with no worker running
    rows = {row.name: row for row in overview(celery_app, redis_client)}

    # Then the configured queue comes first, and both show their size, latency and no consumer
    assert list(rows) == ["default", "reprots"]
    assert (rows["default"].configured, rows["reprots"].configured) == (True, False)
    assert rows["reprots"].by_priority == {5: 1}
    assert rows["reprots"].unconsumed
    assert 0 <= rows["default"].latency_s < 60  # type: ignore[operator]
    assert not rows["default"].paused
