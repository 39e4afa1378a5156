"""Beat on redbeat, with ``schedule.yaml`` as the source of truth.

``beat_scheduler = "conveyor.schedule.beat:Scheduler"`` (set by ``conveyor.configure``).
The scheduler

- validates the schedule file when beat starts and refuses to start if it is
  invalid (nothing is written to Redis then);
- syncs the file into redbeat on its first tick, that is only once it holds
  redbeat's lock: a standby beat with an older file never rewrites the schedule
  (redbeat's own ``setup_schedule`` runs before the lock, redbeat#198);
- reads the file again when it changes (its modification time, looked at every
  tick): a valid file is synced, an invalid one is logged with its errors and
  changes nothing, and beat goes on;
- enqueues due jobs through the Job API (``Job.set(...).perform_later``), so
  queue, priority, callbacks, logging and retries are the same as in code;
- stores cron entries as ``ZonedCron`` (expression + IANA zone), which redbeat's
  own encoder cannot represent, so the entry class encodes and decodes it.

``sync_schedule`` is also what ``celery -A app schedule sync`` runs. A sync
creates and updates the file's entries, deletes the entries it created that the
file no longer has, keeps ``last_run_at`` of the entries that stay, and leaves
entries created through redbeat's API alone. It is one Redis transaction.

Example::

    report = sync_schedule(app, load_schedule("schedule.yaml"))
    print(report.created, report.updated, report.deleted)
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import redis
from celery import Celery
from celery.beat import ScheduleEntry
from redbeat.decoder import RedBeatJSONDecoder, RedBeatJSONEncoder
from redbeat.schedulers import RedBeatScheduler, RedBeatSchedulerEntry

from conveyor.broker.scripts import Script
from conveyor.compat.redbeat import beat_conf, redis_of
from conveyor.errors import ScheduleError
from conveyor.schedule.file import ScheduledJob, load_schedule
from conveyor.schedule.zoned_cron import ZonedCron
from conveyor.serialization import deserialize_arguments, serialize_arguments
from conveyor.settings import Settings, settings_for

__all__ = [
    "Entry",
    "Scheduler",
    "SyncReport",
    "enqueue_entry",
    "job_class_of",
    "owned_key",
    "read_entries",
    "schedule_path",
    "set_enabled",
    "sync_schedule",
]

logger = logging.getLogger("conveyor.schedule.beat")
_ZONED = "conveyor.zoned_cron"  # stored in redbeat: never change it
#: Marks an entry written from the schedule file (its args are conveyor-serialized).
FROM_FILE = "conveyor_schedule"
_ADVANCE = Script("advance_entry")
#: How long (s) beat waits before it tries again when Redis is away (a failover, a restart).
REDIS_AWAY_RETRY_S = 1.0


class Encoder(RedBeatJSONEncoder):  # type: ignore[misc]
    def default(self, obj: Any) -> Any:
        if isinstance(obj, ZonedCron):
            return {"__type__": _ZONED, "expression": obj.expression, "timezone": obj.timezone}
        return super().default(obj)


class Decoder(RedBeatJSONDecoder):  # type: ignore[misc]
    def dict_to_object(self, d: dict[str, Any]) -> Any:
        if d.get("__type__") == _ZONED:
            return ZonedCron(d["expression"], d["timezone"])
        return super().dict_to_object(d)


class Entry(RedBeatSchedulerEntry):  # type: ignore[misc]
    """A redbeat entry that can hold a ``ZonedCron``."""

    @staticmethod
    def decode_definition(definition: str) -> Any:
        return json.loads(definition, cls=Decoder)

    def definition_json(self) -> str:
        return json.dumps(
            {
                "name": self.name,
                "task": self.task,
                "args": self.args,
                "kwargs": self.kwargs,
                "options": self.options,
                "schedule": self.schedule,
                "enabled": self.enabled,
            },
            cls=Encoder,
        )

    def _next_instance(self, last_run_at: Any = None, only_update_last_run_at: bool = False) -> Any:
        """The entry after a run (redbeat's ``next(entry)``), recorded in Redis only if it is still defined.

        redbeat writes the run's meta and the next due time back unconditionally: an entry that a
        schedule sync deleted while beat was sending it came back as a hash with no definition.
        One script (``advance_entry.lua``) checks and writes.
        """
        entry = ScheduleEntry._next_instance(self, last_run_at=last_run_at)  # celery's: a copy, run counted
        if only_update_last_run_at:
            entry.total_run_count = self.total_run_count
        meta = json.dumps({"last_run_at": entry.last_run_at, "total_run_count": entry.total_run_count}, cls=Encoder)
        _ADVANCE(redis_of(self.app), [self.key, beat_conf(self.app).schedule_key], [meta, entry.score])
        return entry

    __next__ = next = _next_instance

    def save(self) -> Entry:
        meta = json.dumps({"last_run_at": self.last_run_at}, cls=Encoder)
        with redis_of(self.app).pipeline() as pipe:
            pipe.hset(self.key, "definition", self.definition_json())
            pipe.hsetnx(self.key, "meta", meta)
            pipe.zadd(beat_conf(self.app).schedule_key, {self.key: self.score})
            pipe.execute()
        return self


def schedule_path(app: Celery) -> Path:
    """The schedule file of ``app``: ``conveyor_schedule_file``, default ``schedule.yaml``."""
    return Path(Settings.from_app(app).schedule_file)


def owned_key(app: Celery) -> str:
    """The Redis set naming the entries that came from the schedule file."""
    return str(beat_conf(app).key_prefix) + "conveyor:file-entries"


def _entry_for(app: Celery, job: ScheduledJob, last_run_at: dt.datetime) -> Entry:
    args, kwargs = serialize_arguments(job.name, (), job.args, job.kwargs)
    options = {**job.options, FROM_FILE: {"job": job.job, "description": job.description}}
    return Entry(
        name=job.name,
        task=job.task,
        schedule=job.schedule,
        args=args,
        kwargs=kwargs,
        options=options,
        enabled=job.enabled,
        app=app,
        last_run_at=last_run_at,
    )


@dataclass
class SyncReport:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        parts = [f"{len(getattr(self, k))} {k}" for k in ("created", "updated", "unchanged", "deleted")]
        return ", ".join(parts)


def sync_schedule(app: Celery, jobs: dict[str, ScheduledJob], attempts: int = 5) -> SyncReport:
    """Make redbeat hold exactly the file's entries (see module doc); one transaction."""
    conf = beat_conf(app)
    client = redis_of(app)
    owned = owned_key(app)
    now = dt.datetime.now(dt.UTC)
    for _ in range(attempts):
        report = SyncReport()
        with client.pipeline() as pipe:
            try:
                keys = [Entry.generate_key(app, name) for name in jobs]
                pipe.watch(owned, *keys)
                previously_owned = set(pipe.smembers(owned))
                writes: list[Entry] = []
                for name, job in jobs.items():
                    key = Entry.generate_key(app, name)
                    stored_definition, stored_meta = pipe.hget(key, "definition"), pipe.hget(key, "meta")
                    last_run_at = Entry.decode_meta(stored_meta)["last_run_at"] if stored_meta else None
                    entry = _entry_for(app, job, last_run_at or now)
                    if stored_definition is None:
                        report.created.append(name)
                        writes.append(entry)
                    elif stored_definition != entry.definition_json():
                        report.updated.append(name)
                        writes.append(entry)
                    else:
                        report.unchanged.append(name)
                report.deleted = sorted(previously_owned - set(jobs))
                pipe.multi()
                for entry in writes:
                    pipe.hset(entry.key, "definition", entry.definition_json())
                    # An entry that stays keeps its last run; a new one counts from now, so a
                    # daily job added at noon waits for its time instead of running at once.
                    pipe.hsetnx(entry.key, "meta", json.dumps({"last_run_at": entry.last_run_at}, cls=Encoder))
                    pipe.zadd(conf.schedule_key, {entry.key: entry.score})
                for name in report.deleted:
                    key = Entry.generate_key(app, name)
                    pipe.zrem(conf.schedule_key, key)
                    pipe.delete(key)
                pipe.delete(owned)
                if jobs:
                    pipe.sadd(owned, *jobs)
                pipe.execute()
                return report
            except redis.WatchError:
                continue  # another sync changed the schedule meanwhile: read again
    raise RuntimeError(f"could not sync the schedule: it kept changing during {attempts} attempts")


class Scheduler(RedBeatScheduler):  # type: ignore[misc]
    """redbeat's scheduler, synced from the schedule file once it holds the lock."""

    Entry = Entry

    def setup_schedule(self) -> None:
        # Validate only: writing now would race the beat that holds the lock.
        path = schedule_path(self.app)
        self._file_mtime = _mtime(path)
        try:
            self._file_jobs: dict[str, ScheduledJob] | None = load_schedule(path, self.app.conf.timezone or "UTC")
        except ScheduleError as exc:
            logger.critical("beat: refusing to start, the schedule is invalid (nothing was changed):\n%s", exc)
            raise SystemExit(1) from None
        logger.info("beat: %s is valid (%d entries); syncing once the lock is held", path, len(self._file_jobs))

    def tick(self, *args: Any, **kwargs: Any) -> float:
        """One round of beat: the sync on the first, then redbeat's (extend the lock, send what is due).

        Redis away (a failover, a restart) does not stop beat: redbeat's tick raised, and Celery's beat
        service exits on any error. The tick is tried again every REDIS_AWAY_RETRY_S; a lock lost with
        the old master (or expired meanwhile) is taken again before anything is sent, so two beats never
        send together.
        """
        try:
            self._reload_if_changed()
            jobs = getattr(self, "_file_jobs", None)
            if jobs is not None:
                if self.lock_key and self.lock is None:
                    raise RuntimeError("beat does not hold the redbeat lock; refusing to sync the schedule")
                report = sync_schedule(self.app, jobs)
                logger.info("beat: synced %s into redbeat: %s", schedule_path(self.app), report)
                self._file_jobs = None
            interval: float = super().tick(*args, **kwargs)
            return interval
        except redis.exceptions.LockError as exc:  # LockNotOwnedError: the key is gone or another beat's
            logger.warning("beat: the redbeat lock was lost (%s); taking it again before sending anything", exc)
            self.lock.acquire()  # blocks while another beat holds it, as a standby beat does
            logger.info("beat: Acquired lock")
            return 0.0
        except (redis.ConnectionError, redis.TimeoutError, redis.exceptions.ReadOnlyError) as exc:
            logger.warning(
                "beat: Redis is away (%s: %s); trying again in %g s", type(exc).__name__, exc, REDIS_AWAY_RETRY_S
            )
            return REDIS_AWAY_RETRY_S

    def _reload_if_changed(self) -> None:
        """Read the schedule file again when it changed: synced if valid, else the error is logged and
        redbeat keeps the last good schedule (as at start, an invalid file changes nothing)."""
        path = schedule_path(self.app)
        mtime = _mtime(path)
        if mtime == getattr(self, "_file_mtime", mtime):
            return
        self._file_mtime = mtime
        try:
            self._file_jobs = load_schedule(path, self.app.conf.timezone or "UTC")
        except ScheduleError as exc:
            logger.error("beat: %s changed but is invalid; the schedule in Redis stays as it was:\n%s", path, exc)
            return
        logger.info("beat: %s changed (%d entries); syncing", path, len(self._file_jobs))

    def close(self) -> None:
        try:
            super().close()  # releases the lock: Redis may be away at shutdown, the lock then expires
        except redis.RedisError as exc:
            logger.warning("beat: could not release the redbeat lock (%s); it expires on its own", exc)

    def apply_async(self, entry: Any, producer: Any = None, advance: bool = True, **kwargs: Any) -> Any:
        if job_class_of(self.app, entry) is None:
            return super().apply_async(entry, producer=producer, advance=advance, **kwargs)
        entry = self.reserve(entry) if advance else entry
        return SimpleNamespace(id=enqueue_entry(self.app, entry))


def _mtime(path: Path) -> int | None:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return None  # gone: its return is a change


def job_class_of(app: Celery, entry: Any) -> Any:
    """The Job class an entry from the schedule file runs, or None for other entries."""
    if FROM_FILE not in (entry.options or {}):
        return None
    return getattr(app.tasks.get(entry.task), "job_class", None)


def enqueue_entry(app: Celery, entry: Any) -> str:
    """Enqueue the job of a schedule-file entry through the Job API now; returns the job id."""
    job_class = job_class_of(app, entry)
    if job_class is None:
        task, options = app.tasks.get(entry.task), dict(entry.options)
        if isinstance(options.get("queue"), str):  # jobs map theirs in Job.set; plain tasks here
            options["queue"] = settings_for(app).queue(options["queue"])
        result = (
            task.apply_async(entry.args, entry.kwargs, **options)
            if task
            else app.send_task(entry.task, entry.args, entry.kwargs, **options)
        )
        return str(result.id)
    args, kwargs = deserialize_arguments(entry.args or [], entry.kwargs or {})
    options = {key: value for key, value in entry.options.items() if key in ("queue", "priority")}
    job = job_class.set(**options).perform_later(*args, **kwargs)
    return str(job.job_id)


def read_entries(app: Celery) -> list[Entry]:
    """Every entry redbeat holds (from the file and from its API), by name."""
    conf = beat_conf(app)
    entries = []
    for key in redis_of(app).zrange(conf.schedule_key, 0, -1):
        try:
            entries.append(Entry.from_key(key, app=app))
        except KeyError:
            continue  # deleted meanwhile
    return sorted(entries, key=lambda entry: entry.name)


def set_enabled(app: Celery, name: str, enabled: bool) -> Entry:
    """Enable or disable an entry in redbeat (until the next sync from the file)."""
    entry: Entry = Entry.from_key(Entry.generate_key(app, name), app=app)
    entry.enabled = enabled
    with redis_of(app).pipeline() as pipe:
        pipe.hset(entry.key, "definition", entry.definition_json())
        pipe.execute()
    return entry
