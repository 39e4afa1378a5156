"""Redis must not evict keys: a queue, a scheduled job or a result it drops is lost silently.

With ``maxmemory`` set and any policy but ``noeviction``, Redis deletes keys when it
is full, queues included (Sidekiq's docs give the same warning). Every worker checks
the policy when it starts (:class:`EvictionCheck`, a worker bootstep): it logs a
warning, or refuses to start when ``conveyor_production`` is true. A Redis that
forbids ``CONFIG GET`` (some managed services) gets a warning that the policy could
not be checked.

Example::

    eviction_problem(redis.Redis())   # None, or "Redis evicts keys (maxmemory-policy allkeys-lru) ..."
"""

from __future__ import annotations

import logging
from typing import Any

from celery import bootsteps

from conveyor.errors import WorkerConfigError
from conveyor.settings import Settings, redis_client

__all__ = ["EvictionCheck", "eviction_problem"]

logger = logging.getLogger("conveyor.broker.eviction")


def eviction_problem(client: Any) -> str | None:
    """What is wrong with the server's eviction policy, or None if it is ``noeviction``."""
    try:
        policy = client.config_get("maxmemory-policy").get("maxmemory-policy")
    except Exception as exc:  # CONFIG disabled or renamed: say so rather than guess
        return f"could not read Redis' maxmemory-policy ({type(exc).__name__}: {exc}); make sure it is noeviction"
    if policy in (None, "noeviction"):
        return None
    return (
        f"Redis evicts keys (maxmemory-policy {policy}): queued and scheduled jobs can be deleted when it is full. "
        "Set `maxmemory-policy noeviction` in redis.conf (or CONFIG SET maxmemory-policy noeviction)"
    )


class EvictionCheck(bootsteps.StartStopStep):  # type: ignore[misc]
    """Worker bootstep: warn about an evicting Redis, refuse to start in production."""

    label = "conveyor eviction check"

    def start(self, worker: Any) -> None:
        settings = Settings.from_app(worker.app)
        if not settings.uses_redis:
            return
        if settings.sentinel is not None:  # a wrong Sentinel URL or password: one line, not a retry loop
            unreachable = settings.sentinel.problem(settings.redis_connect_timeout, settings.redis_socket_timeout)
            if unreachable is not None:
                raise WorkerConfigError(f"conveyor: {unreachable}")
        client = redis_client(worker.app)
        try:
            problem = eviction_problem(client)
        finally:
            client.close()
        if problem is None:
            return
        if settings.production:
            raise WorkerConfigError(f"{problem}. The worker refuses to start (conveyor_production is on).")
        logger.warning("conveyor: %s.", problem)
