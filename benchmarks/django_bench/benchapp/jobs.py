"""The conveyor side: the same work as ``benchapp.tasks``, as jobs."""

import os
import time

import redis

from conveyor import Job

_redis = redis.Redis.from_url(os.environ["REDIS_URL"])


class NoopJob(Job):
    def perform(self, n: int) -> None:
        pass


class MarkJob(Job):
    """Records the time it ran under ``key`` (start and end markers of a drain)."""

    def perform(self, key: str) -> None:
        _redis.set(key, time.time())
