"""celery-redbeat's names conveyor uses: its scheduler and entry classes, config and hash layout.

``conveyor.schedule.beat`` subclasses ``RedBeatScheduler`` (``setup_schedule``, ``tick``,
``apply_async``, ``lock``, ``lock_key``) and ``RedBeatSchedulerEntry`` (``decode_definition``,
``save``, ``key``, ``score``, ``_next_instance``), and writes entries as redbeat stores them: a hash with
``definition`` and ``meta`` fields under ``key_prefix + name``, indexed in the
``schedule_key`` sorted set.

Example::

    client = redis_of(app); conf = beat_conf(app)
"""

from __future__ import annotations

from typing import Any

from celery import Celery

from conveyor.compat.guard import Guard, require_attributes

__all__ = ["GUARD", "beat_conf", "redis_of"]

GUARD = Guard(
    "celery-redbeat",
    "redbeat.schedulers",
    {
        "": ("ensure_conf", "get_redis", "RedBeatScheduler", "RedBeatSchedulerEntry"),
        "RedBeatScheduler": ("setup_schedule", "tick", "apply_async", "reserve", "Entry"),
        "RedBeatSchedulerEntry": (
            "decode_definition",
            "decode_meta",
            "generate_key",
            "save",
            "from_key",
            "key",
            "score",
            "due_at",
            "_next_instance",  # overridden: the run is recorded only while the entry is defined
        ),
    },
    tested=">=2.3.2,<2.5",
    extra_modules={
        "redbeat.decoder": {"": ("RedBeatJSONDecoder", "RedBeatJSONEncoder")},
        # conveyor's entry calls celery's ScheduleEntry._next_instance (the copy) and writes it itself
        "celery.beat": {"ScheduleEntry": ("_next_instance", "total_run_count", "last_run_at")},
    },
)


def beat_conf(app: Celery) -> Any:
    """redbeat's view of the app's settings (key prefix, schedule key, lock key)."""
    from redbeat.schedulers import ensure_conf

    conf = ensure_conf(app)
    require_attributes(conf, ("schedule_key", "key_prefix", "lock_key"), "celery-redbeat")
    return conf


def redis_of(app: Celery) -> Any:
    """The Redis client redbeat uses for ``app`` (shared, one per app)."""
    from redbeat.schedulers import get_redis

    return get_redis(app)
