"""Conveyor's settings, read from a Celery app's ``conf`` under the ``conveyor_`` prefix.

Settings (all optional):

=========================  =======  ===========================================
``conveyor_log_arguments``  True     log job arguments at enqueue and perform
``conveyor_retry_jitter``   0.15     default ``jitter`` of ``retry_on``
``conveyor_scheduled_threshold``  5  waits longer than this (s) use the scheduled set
``conveyor_scheduled_poll_interval``  1  seconds between a worker's scheduled-set polls
``conveyor_dead_max_jobs``  10000    the dead set keeps at most this many jobs
``conveyor_dead_timeout``  180 days  and drops jobs older than this (seconds)
``conveyor_production``     False    refuse to start a worker on an evicting Redis
=========================  =======  ===========================================

Queue and priority defaults are Celery's own ``task_default_queue`` and
``task_default_priority``, so there is one place to set each.

Example::

    app = Celery("app")
    conveyor.configure(app, broker_url="redis://localhost:6379/0",
                       conveyor_log_arguments=False)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from celery import Celery

from conveyor.defaults import (
    CELERY_SETTINGS,
    DEFAULT_JITTER,
    DEFAULT_SCHEDULED_THRESHOLD,
    VISIBILITY_TIMEOUT,
    is_redis_url,
)
from conveyor.errors import ConfigurationError

__all__ = ["Settings", "configure", "forget", "settings_for"]

_CACHE_ATTR = "_conveyor_settings"


@dataclass(frozen=True, slots=True)
class Settings:
    """The values conveyor reads from one app, resolved once."""

    default_queue: str
    default_priority: int | None
    log_arguments: bool
    retry_jitter: float
    #: Names of the queues in ``task_queues`` (what workers consume without -Q), or None if unset.
    known_queues: frozenset[str] | None
    #: Celery's ``task_send_sent_event`` (read here once: a conf lookup costs more than it seems).
    send_sent_event: bool
    #: The broker is Redis (the scheduled and dead sets live there).
    uses_redis: bool = False
    #: Waits longer than this (seconds) go to the scheduled set; shorter ones stay Celery ETA messages.
    scheduled_threshold: float = DEFAULT_SCHEDULED_THRESHOLD

    @classmethod
    def from_app(cls, app: Celery) -> Settings:
        conf = app.conf
        return cls(
            default_queue=conf.task_default_queue,
            default_priority=conf.task_default_priority,
            log_arguments=bool(conf.get("conveyor_log_arguments", True)),
            retry_jitter=float(conf.get("conveyor_retry_jitter", DEFAULT_JITTER)),
            known_queues=frozenset(queue.name for queue in conf.task_queues) if conf.task_queues else None,
            send_sent_event=bool(conf.task_send_sent_event),
            uses_redis=is_redis_url(conf.broker_url),
            scheduled_threshold=float(conf.get("conveyor_scheduled_threshold", DEFAULT_SCHEDULED_THRESHOLD)),
        )


def settings_for(app: Celery) -> Settings:
    """Return the app's conveyor settings, cached on the app.

    They are read on first use (the first enqueue or perform), after the app
    is configured; ``configure`` clears the cache.
    """
    cached: Settings | None = getattr(app, _CACHE_ATTR, None)
    if cached is None:
        cached = Settings.from_app(app)
        setattr(app, _CACHE_ATTR, cached)
    return cached


def configure(app: Celery, *, default: bool = True, **overrides: Any) -> Celery:
    """Apply conveyor's recommended Celery settings, then ``overrides``.

    See ``conveyor.defaults.CELERY_SETTINGS`` for each setting and its reason.
    ``default`` makes ``app`` the process's default app, so jobs enqueued from any
    thread use it (Celery's "current app" is otherwise per thread, and threads that
    never set one get an unconfigured app pointing at amqp://localhost).

    Example::

        app = conveyor.configure(Celery("app"), broker_url=settings.broker_url)
    """
    transport = {**CELERY_SETTINGS["broker_transport_options"], **overrides.pop("broker_transport_options", {})}
    broker = overrides.get("broker_url") or ""
    if "redbeat_redis_url" not in overrides and broker.startswith(("redis://", "rediss://", "unix://")):
        # redbeat stores the schedule on the broker's Redis unless told otherwise.
        overrides["redbeat_redis_url"] = broker
    app.conf.update({**CELERY_SETTINGS, "broker_transport_options": transport, **overrides})
    _check_scheduled_threshold(app)
    _add_worker_steps(app)
    forget(app)
    if default:
        app.set_default()
    return app


def forget(app: Celery) -> None:
    """Drop the cached settings, so the next use reads ``app.conf`` again."""
    if hasattr(app, _CACHE_ATTR):
        delattr(app, _CACHE_ATTR)


def _check_scheduled_threshold(app: Celery) -> None:
    threshold = float(app.conf.get("conveyor_scheduled_threshold", DEFAULT_SCHEDULED_THRESHOLD))
    visibility = float((app.conf.broker_transport_options or {}).get("visibility_timeout", VISIBILITY_TIMEOUT))
    if threshold * 2 > visibility:
        # An ETA message waiting longer than the visibility timeout is delivered again (kombu#337).
        raise ConfigurationError(
            f"conveyor_scheduled_threshold ({threshold:g} s) must be under half the broker's visibility_timeout "
            f"({visibility:g} s): longer waits must go to the scheduled set. Lower the threshold."
        )


def _add_worker_steps(app: Celery) -> None:
    # Every worker of the app polls the scheduled set and checks Redis' eviction policy.
    from conveyor.eviction import EvictionCheck
    from conveyor.scheduled import SchedulePoller

    app.steps["worker"].update({SchedulePoller, EvictionCheck})
    if is_redis_url(app.conf.broker_url):
        from celery import signals

        from conveyor.dead import record_task_failure

        # Bad messages and failed jobs go to the dead set (conveyor.consumer, conveyor.dead).
        app.conf.worker_consumer = "conveyor.consumer:Consumer"
        from conveyor.transport import install

        install()  # redis:// and rediss:// use conveyor's transport: unparsable entries do not stop workers
        signals.task_failure.connect(record_task_failure, weak=False, dispatch_uid="conveyor.dead")
