"""``celery -A app jobs busy|workers|limits``: what runs where, read from the super fetch's records."""

from __future__ import annotations

import json
import time
from typing import Any

import redis

from conveyor.broker.fetch.owners import heartbeat_key
from conveyor.cli.jobs_group import jobs
from conveyor.keys import OWNERS_KEY
from tests.conveyor.cli.running import invoke


def test_with_no_worker_every_listing_says_none(celery_app: Any, redis_client: redis.Redis) -> None:
    assert invoke(celery_app, jobs, "busy").stdout == "0 job(s) running\n"
    assert invoke(celery_app, jobs, "workers").stdout == "0 alive, 0 dead (jobs being recovered)\n"
    assert invoke(celery_app, jobs, "limits").stdout == (
        "0 concurrency limit key(s) in use, 0 throttle window(s)\n"
        "0 job(s) in the scheduled set (throttled jobs wait there too)\n"
    )


def test_workers_lists_a_live_and_a_dead_owner_with_their_last_heartbeat(
    celery_app: Any, redis_client: redis.Redis
) -> None:
    # Given one owner with a heartbeat, and one whose heartbeat expired two minutes ago
    now = time.time()
    redis_client.zadd(OWNERS_KEY, {"live-owner": now, "dead-owner": now - 125})
    redis_client.set(heartbeat_key("live-owner"), json.dumps({"host": "web-1", "pid": 41, "queues": ["a", "b"]}))
    # When the workers are listed
    lines = invoke(celery_app, jobs, "workers").stdout.splitlines()
    # Then each is shown, the most recent heartbeat first, the dead one marked with its age
    assert lines[0] == "1 alive, 1 dead (jobs being recovered)"
    assert lines[1].startswith("alive  web-1:41  live-owner  last heartbeat 0s ago  holding 0  queues a,b")
    assert lines[2].startswith("DEAD   ?:None  dead-owner  last heartbeat 2m0")
