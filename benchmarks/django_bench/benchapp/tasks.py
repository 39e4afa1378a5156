"""The ``django.tasks`` side: what ``@task`` costs on conveyor's backend."""

import os
import time

import redis

try:
    from django.tasks import task
except ImportError:  # Django 5.2: the backport
    from django_tasks import task

_redis = redis.Redis.from_url(os.environ["REDIS_URL"])


@task()  # type: ignore[untyped-decorator]  # django.tasks is untyped here (mypy overrides)
def noop(n: int) -> None:
    pass


@task()  # type: ignore[untyped-decorator]  # django.tasks is untyped here (mypy overrides)
def mark(key: str) -> None:
    """Records the time it ran under ``key`` (start and end markers of a drain)."""
    _redis.set(key, time.time())
