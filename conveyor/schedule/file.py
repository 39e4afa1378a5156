"""``schedule.yaml``: the cron schedule, validated before anything reaches Redis.

::

    daily_cleanup:
      cron: "0 2 * * *"             # 5 fields, or 6 with seconds first; or  every: "5 minutes"
      job: tasks.daily_cleanup_job.DailyCleanupJob     # `class:` works too (sidekiq-cron); or the
                                    # path of a django.tasks @task function (conveyor's backend)
      queue: maintenance            # optional; else the job's queue
      priority: 3                   # optional; else the job's priority
      args: []                      # optional; kwargs: {} too
      timezone: Europe/Berlin       # optional; default the app timezone (UTC)
      description: Clean up old records
      enabled: true

``load_schedule`` returns every entry or raises ``ScheduleError`` listing every
problem as ``<file>: <entry>.<field>: <what is wrong and what is accepted>``.
Checked: unknown keys, both or neither of ``cron``/``every``, the cron
expression, the ``every`` duration, the time zone, the job (importable, a
``Job``), the arguments (they fit ``perform`` and serialize), queue and priority.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from celery.schedules import BaseSchedule, schedule
from celery.utils.imports import import_from_cwd
from croniter import croniter

from conveyor.errors import ConveyorError, ScheduleError
from conveyor.jobs.app_lookup import task_name
from conveyor.schedule.zoned_cron import ZonedCron
from conveyor.serialization import serialize_arguments
from conveyor.validation import validate_priority, validate_queue_name

__all__ = ["ScheduledJob", "describe", "load_schedule", "local_time", "parse_every"]

KEYS = ("cron", "every", "job", "class", "args", "kwargs", "queue", "priority", "timezone", "description", "enabled")
_ACCEPTED_KEYS = "cron, every, job (or class), args, kwargs, queue, priority, timezone, description, enabled"
_NAME = re.compile(r"[A-Za-z0-9_.:\-]{1,200}")
_EVERY = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(second|minute|hour|day|week)s?\s*", re.IGNORECASE)
_UNIT_S = {"second": 1, "minute": 60, "hour": 3600, "day": 86400, "week": 604800}


@dataclass(frozen=True)
class ScheduledJob:
    """One validated entry of the schedule."""

    name: str
    job: str  # dotted path of the Job class, as written
    task: str  # its Celery task name
    cron: str | None
    every_s: float | None
    timezone: str
    args: list[Any] = field(default_factory=list)
    kwargs: dict[str, Any] = field(default_factory=dict)
    queue: str | None = None
    priority: int | None = None
    description: str | None = None
    enabled: bool = True

    @property
    def schedule(self) -> BaseSchedule:
        if self.cron is not None:
            return ZonedCron(self.cron, self.timezone)
        assert self.every_s is not None
        return schedule(run_every=dt.timedelta(seconds=self.every_s))

    @property
    def options(self) -> dict[str, Any]:
        """Enqueue options for ``Job.set`` (only those given)."""
        options: dict[str, Any] = {}
        if self.queue is not None:
            options["queue"] = self.queue
        if self.priority is not None:
            options["priority"] = self.priority
        return options


def describe(schedule: BaseSchedule) -> str:
    """A schedule in words: ``At 02:00 AM (cron "0 2 * * *")`` or ``every 5 minutes``."""
    from cron_descriptor import get_description

    if isinstance(schedule, ZonedCron):
        return f'{get_description(schedule.expression)} (cron "{schedule.expression}")'
    run_every = getattr(schedule, "run_every", None)
    if not isinstance(run_every, dt.timedelta):
        return repr(schedule)
    seconds = run_every.total_seconds()
    for unit, size in (("week", 604800), ("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            count = int(seconds // size)
            return f"every {count} {unit}{'s' if count != 1 else ''}"
    return f"every {seconds:g} second{'s' if seconds != 1 else ''}"


def local_time(moment: dt.datetime, zone: str | None = None) -> str:
    """``moment`` as wall-clock time in ``zone`` (the machine's if None), e.g. ``2026-11-29 02:00:00 CET``."""
    return moment.astimezone(ZoneInfo(zone) if zone else None).strftime("%Y-%m-%d %H:%M:%S %Z")


def local_clock(timestamp: float | None) -> str:
    """An epoch time as the machine's wall-clock time, like ``local_time`` ("" for None)."""
    return "" if timestamp is None else local_time(dt.datetime.fromtimestamp(timestamp, dt.UTC))


def parse_every(value: Any) -> float:
    """Seconds in an ``every:`` value: a number of seconds, or ``"<n> seconds|minutes|hours|days|weeks"``.

    >>> parse_every("5 minutes")
    300.0
    """
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return float(value)
    match = _EVERY.fullmatch(value) if isinstance(value, str) else None
    if match is None or float(match.group(1)) <= 0:
        raise ValueError(
            f'expected a duration such as "30 seconds", "5 minutes", "2 hours", "1 day" or a number of '
            f"seconds, got {value!r}"
        )
    return float(match.group(1)) * _UNIT_S[match.group(2).lower()]


def _import_job(path: Any) -> type:
    from conveyor.jobs.job import Job

    if not isinstance(path, str) or "." not in path:
        raise ValueError(
            f"expected the dotted path of a Job class, e.g. tasks.daily_cleanup_job.DailyCleanupJob, got {path!r}"
        )
    module_name, _, class_name = path.rpartition(".")
    try:
        # From the working directory too, as `celery -A app` finds the app (beat imports jobs late).
        module = import_from_cwd(module_name)
    except ImportError as exc:
        raise ValueError(f"unknown job {path!r}: cannot import module {module_name!r} ({exc})") from None
    job = getattr(module, class_name, None)
    if job is None:
        raise ValueError(f"unknown job {path!r}: module {module_name!r} has no {class_name!r}")
    # A django.tasks @task function of a conveyor backend names the job class it runs as
    job = getattr(job, "job_class", job)
    if not (isinstance(job, type) and issubclass(job, Job)) or job.perform is Job.perform:
        raise ValueError(
            f"{path!r} is not a conveyor Job class with a perform() method (or a django.tasks @task function "
            "whose backend is conveyor.django.backend.ConveyorBackend)"
        )
    return job


Problem = Callable[[str, str], None]  # (key, message): one problem of an entry


def _entry(name: str, spec: Any, default_timezone: str, problems: list[str]) -> ScheduledJob | None:
    """One entry, checked field group by field group; None (and ``problems`` grown) if it is not valid."""

    def problem(key: str, message: str) -> None:
        problems.append(f"{name}.{key}: {message}")

    if not _NAME.fullmatch(name):
        problem("name", "entry names are 1-200 letters, digits, '_', '-', '.' or ':'")
    if not isinstance(spec, Mapping):
        problem("entry", f"expected a mapping of {_ACCEPTED_KEYS}, got {spec!r}")
        return None
    before = len(problems)
    for key in spec:
        if key not in KEYS:
            problem(str(key), f"unknown key; accepted: {_ACCEPTED_KEYS}")
    job_path, job_cls = _job_of(spec, problem)
    cron, every_s = _timing_of(spec, problem)
    timezone = _timezone_of(spec, default_timezone, problem)
    args, kwargs = _arguments_of(spec, job_cls, problem)
    queue, priority = _routing_of(spec, problem)
    description, enabled = _texts_of(spec, problem)
    if len(problems) > before or job_cls is None:
        return None
    return ScheduledJob(
        name=name,
        job=job_path,
        task=task_name(job_cls),
        cron=cron,
        every_s=every_s,
        timezone=timezone,
        args=args,
        kwargs=kwargs,
        queue=queue,
        priority=priority,
        description=description,
        enabled=enabled,
    )


def _job_of(spec: Mapping[str, Any], problem: Problem) -> tuple[Any, type | None]:
    """``job`` (or its alias ``class``): the dotted path and the Job class it names."""
    if "job" in spec and "class" in spec:
        problem("class", "give job or class (an alias of job), not both")
    job_path = spec.get("job", spec.get("class"))
    if job_path is None:
        problem("job", "missing: the dotted path of the Job class to run")
        return None, None
    try:
        return job_path, _import_job(job_path)
    except ValueError as exc:
        problem("job" if "job" in spec else "class", str(exc))
        return job_path, None


def _timing_of(spec: Mapping[str, Any], problem: Problem) -> tuple[Any, float | None]:
    """``cron`` or ``every``, exactly one: the cron text, or the interval in seconds."""
    cron, every = spec.get("cron"), spec.get("every")
    if (cron is None) == (every is None):
        problem("cron", 'give exactly one of cron (e.g. "0 2 * * *") or every (e.g. "5 minutes")')
    elif cron is not None:
        if not isinstance(cron, str) or len(cron.split()) not in (5, 6):
            problem("cron", f"expected 5 fields (minute hour day month weekday) or 6 with seconds first, got {cron!r}")
        elif not croniter.is_valid(cron, second_at_beginning=True):
            problem("cron", f"invalid cron expression {cron!r}: {_out_of_range(cron) or 'see man 5 crontab'}")
    else:
        try:
            return cron, parse_every(every)
        except ValueError as exc:
            problem("every", str(exc))
    return cron, None


def _timezone_of(spec: Mapping[str, Any], default_timezone: str, problem: Problem) -> Any:
    timezone = spec.get("timezone", default_timezone)
    try:
        if not isinstance(timezone, str):
            raise ZoneInfoNotFoundError
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        problem("timezone", f"unknown time zone {timezone!r}; use an IANA name such as Europe/Berlin or UTC")
    return timezone


def _arguments_of(spec: Mapping[str, Any], job_cls: type | None, problem: Problem) -> tuple[Any, dict[str, Any]]:
    """``args`` and ``kwargs``, checked against the job's perform() and serialized as an enqueue would."""
    args, kwargs = spec.get("args", []), spec.get("kwargs", {})
    if not isinstance(args, list):
        problem("args", f"expected a list, got {args!r}")
    if not (isinstance(kwargs, Mapping) and all(isinstance(k, str) for k in kwargs)):
        problem("kwargs", f"expected a mapping with string keys, got {kwargs!r}")
        return args, {}
    if isinstance(args, list) and job_cls is not None:
        try:
            job_cls._check_arguments(tuple(args), dict(kwargs))  # type: ignore[attr-defined]
            serialize_arguments(job_cls.__qualname__, (), args, dict(kwargs))
        except (TypeError, ConveyorError) as exc:
            problem("args", str(exc))
    return args, dict(kwargs)


def _routing_of(spec: Mapping[str, Any], problem: Problem) -> tuple[Any, Any]:
    """``queue`` and ``priority``, each checked on its own (each problem names its own key)."""
    queue, priority = spec.get("queue"), spec.get("priority")
    for key, value, validate in (("queue", queue, validate_queue_name), ("priority", priority, validate_priority)):
        if value is not None:
            try:
                validate(value, key, ValueError)
            except ValueError as exc:
                problem(key, str(exc))
    return queue, priority


def _texts_of(spec: Mapping[str, Any], problem: Problem) -> tuple[Any, Any]:
    description, enabled = spec.get("description"), spec.get("enabled", True)
    if description is not None and not isinstance(description, str):
        problem("description", f"expected text, got {description!r}")
    if not isinstance(enabled, bool):
        problem("enabled", f"expected true or false, got {enabled!r}")
    return description, enabled


_FIELDS = [("minute", 0, 59), ("hour", 0, 23), ("day of month", 1, 31), ("month", 1, 12), ("day of week", 0, 7)]


def _out_of_range(cron: str) -> str | None:
    """Which field holds a number outside its range (``hour 25 is outside 0-23``), if that is the problem."""
    fields = cron.split()
    names = ([("second", 0, 59)] if len(fields) == 6 else []) + _FIELDS
    for text, (name, low, high) in zip(fields, names, strict=True):
        for part in text.split(","):
            for number in part.partition("/")[0].split("-"):  # a value or a range, before any /step
                if number.isdigit() and not low <= int(number) <= high:
                    return f"{name} {int(number)} is outside {low}-{high}"
    return None


def load_schedule(path: str | Path, default_timezone: str = "UTC") -> dict[str, ScheduledJob]:
    """Read and validate a schedule file; raises ``ScheduleError`` with every problem found."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ScheduleError(path, [f"cannot read the schedule: {exc}"]) from None
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise ScheduleError(path, [f"expected a mapping of entry names to entries, got {type(data).__name__}"])
    problems: list[str] = []
    entries = {}
    for name, spec in data.items():
        entry = _entry(str(name), spec, default_timezone, problems)
        if entry is not None:
            entries[entry.name] = entry
    if problems:
        raise ScheduleError(path, problems)
    return entries
