"""The worker's start-up check of Redis' eviction policy, with real worker processes."""

from __future__ import annotations

import os
import sys
from typing import Any

import pytest
import redis

from tests.integration.services import ROOT, Service
from tests.reliability.conftest import Workers

pytestmark = [pytest.mark.redis, pytest.mark.processes, pytest.mark.slow]


def test_an_evicting_redis_is_refused_in_production_and_warned_about_otherwise(
    rel_app: Any, records: redis.Redis, workers: Workers
) -> None:
    client = redis.Redis.from_url(workers.broker.url)
    client.config_set("maxmemory-policy", "allkeys-lru")
    try:
        argv = [sys.executable, "-m", "celery", "-A", "tests.reliability.app", "worker", "-P", "solo", "-Q", "rel"]
        production = Service(argv, env={**os.environ, "RELIABILITY_PRODUCTION": "1"}, cwd=ROOT)
        assert production.wait(timeout_s=60) != 0
        assert "Redis evicts keys (maxmemory-policy allkeys-lru)" in production.output
        assert "The worker refuses to start (conveyor_production is on)" in production.output

        [development] = workers.start(1)
        assert "Redis evicts keys (maxmemory-policy allkeys-lru)" in development.output
        assert "Set `maxmemory-policy noeviction` in redis.conf" in development.output
    finally:
        client.config_set("maxmemory-policy", "noeviction")
