"""``celery -A app schedule …``: the cron schedule (schedule.yaml) and its copy in redbeat.

::

    celery -A app schedule check     # validate schedule.yaml; exit 1 listing every problem
    celery -A app schedule list      # entries, their schedule in words, next 3 runs, last run
    celery -A app schedule sync      # write schedule.yaml into redbeat (the deploy step)
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any

import click

from conveyor.cli.group import OneLineErrors
from conveyor.errors import ScheduleError
from conveyor.schedule.file import ScheduledJob, describe, load_schedule, local_time

__all__ = ["next_runs", "schedule"]


def _app(ctx: click.Context) -> Any:
    return ctx.obj.app


def _load(ctx: click.Context, file: str | None) -> tuple[Path, dict[str, ScheduledJob]]:
    from conveyor.schedule.beat import schedule_path

    app = _app(ctx)
    path = Path(file) if file else schedule_path(app)
    try:
        return path, load_schedule(path, app.conf.timezone or "UTC")
    except ScheduleError as exc:
        click.echo(str(exc), err=True)
        click.echo(f"{path}: {len(exc.problems)} problem(s); nothing was changed", err=True)
        sys.exit(1)


def next_runs(job: ScheduledJob, last_run_at: dt.datetime | None, count: int = 3) -> list[dt.datetime]:
    now = dt.datetime.now(dt.UTC)
    if job.cron is not None:
        from conveyor.schedule.zoned_cron import ZonedCron

        return ZonedCron(job.cron, job.timezone).next_runs(count, after=now)
    assert job.every_s is not None
    step = dt.timedelta(seconds=job.every_s)
    first = (last_run_at + step) if last_run_at else now + step
    first = max(first, now)
    return [(first + n * step).astimezone(dt.UTC) for n in range(count)]


def _last_runs(app: Any, names: list[str]) -> dict[str, dt.datetime | None] | None:
    """Last run per entry from redbeat, or None if Redis cannot be read."""
    from conveyor.compat.redbeat import beat_conf, redis_of
    from conveyor.schedule.beat import Entry

    try:
        beat_conf(app)
        client = redis_of(app)
        with client.pipeline() as pipe:
            for name in names:
                pipe.hget(Entry.generate_key(app, name), "meta")
            metas = pipe.execute()
    except Exception:  # listing works without Redis; it just cannot show last runs
        return None
    return {
        name: Entry.decode_meta(meta)["last_run_at"] if meta else None for name, meta in zip(names, metas, strict=True)
    }


@click.group(name="schedule", cls=OneLineErrors)
def schedule() -> None:
    """The cron schedule (schedule.yaml) and its copy in redbeat."""


@schedule.command()
@click.option("--file", "file", default=None, help="schedule file (default: the app's conveyor_schedule_file)")
@click.pass_context
def check(ctx: click.Context, file: str | None) -> None:
    """Validate the schedule file; exit 1 listing every problem."""
    path, jobs = _load(ctx, file)
    click.echo(f"{path}: {len(jobs)} entr{'y' if len(jobs) == 1 else 'ies'} OK")


@schedule.command(name="list")
@click.option("--file", "file", default=None, help="schedule file (default: the app's conveyor_schedule_file)")
@click.option("--json", "as_json", is_flag=True, help="print JSON instead of text")
@click.pass_context
def list_(ctx: click.Context, file: str | None, as_json: bool) -> None:
    """Show each entry: job, schedule in words, time zone, next 3 runs, enabled, last run.

    An invalid file is reported (exit 1) with the schedule beat runs beside it: redbeat keeps the last
    good one until the file is fixed.
    """
    if not as_json:
        _list_redbeat_if_the_file_is_invalid(ctx, file)
    path, jobs = _load(ctx, file)
    last_runs = _last_runs(_app(ctx), list(jobs))
    rows: list[dict[str, Any]] = []
    unknown = "unknown (Redis unreachable)"
    for job in jobs.values():
        last = last_runs.get(job.name) if last_runs is not None else None
        rows.append(
            {
                "name": job.name,
                "job": job.job,
                "schedule": describe(job.schedule),
                "timezone": job.timezone,
                "next_runs": [local_time(run, job.timezone) for run in next_runs(job, last)],
                "enabled": job.enabled,
                "last_run": local_time(last, job.timezone) if last else (unknown if last_runs is None else "never"),
                "description": job.description,
            }
        )
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    click.echo(f"{path}: {len(rows)} entr{'y' if len(rows) == 1 else 'ies'}")
    for row in rows:
        click.echo(f"\n{row['name']}  {row['job']}" + (f"  — {row['description']}" if row["description"] else ""))
        click.echo(f"  schedule   {row['schedule']}, time zone {row['timezone']}")
        click.echo(f"  next runs  {', '.join(row['next_runs'])}" + ("" if row["enabled"] else "  (disabled)"))
        click.echo(f"  enabled    {'yes' if row['enabled'] else 'no'}")
        click.echo(f"  last run   {row['last_run']}")


def _list_redbeat_if_the_file_is_invalid(ctx: click.Context, file: str | None) -> None:
    """If the schedule file is invalid: its problems, then what redbeat holds, and exit 1."""
    from conveyor.schedule.beat import FROM_FILE, read_entries, schedule_path

    app = _app(ctx)
    path = Path(file) if file else schedule_path(app)
    try:
        load_schedule(path, app.conf.timezone or "UTC")
        return
    except ScheduleError as exc:
        click.echo(str(exc), err=True)
        click.echo(f"{path}: {len(exc.problems)} problem(s); beat keeps running the schedule below", err=True)
    try:
        entries = read_entries(app)
    except Exception as exc:  # Redis unreachable: the file's problems are the answer
        click.echo(f"(the schedule in Redis cannot be read: {type(exc).__name__}: {exc})", err=True)
        sys.exit(1)
    click.echo(f"redbeat (what beat runs): {len(entries)} entr{'y' if len(entries) == 1 else 'ies'}")
    for entry in entries:
        origin = (entry.options or {}).get(FROM_FILE) or {}
        click.echo(f"\n{entry.name}  {origin.get('job') or entry.task}")
        click.echo(f"  schedule   {describe(entry.schedule)}")
        click.echo(f"  enabled    {'yes' if entry.enabled else 'no'}")
        last = entry.last_run_at
        click.echo(f"  last run   {last.astimezone(dt.UTC).strftime('%Y-%m-%d %H:%M:%S UTC') if last else 'never'}")
    sys.exit(1)


@schedule.command()
@click.option("--file", "file", default=None, help="schedule file (default: the app's conveyor_schedule_file)")
@click.pass_context
def sync(ctx: click.Context, file: str | None) -> None:
    """Write the schedule file into redbeat: create, update, delete removed entries."""
    from conveyor.schedule.beat import sync_schedule

    path, jobs = _load(ctx, file)
    report = sync_schedule(_app(ctx), jobs)
    click.echo(f"{path}: synced into redbeat: {report}")
    for kind in ("created", "updated", "deleted"):
        for name in getattr(report, kind):
            click.echo(f"  {kind:8} {name}")
