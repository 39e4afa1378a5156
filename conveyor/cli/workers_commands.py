"""``celery -A app jobs busy`` and ``jobs workers``: what runs where, from the super fetch's records.

::

    $ celery -A app jobs busy
    2 job(s) running
    web-1:4127  ReportGenerationJob  3c75…  low_priority  since 2026-11-30 14:02:11 UTC  12m04s
    $ celery -A app jobs workers
    1 alive, 1 dead (jobs being recovered)
    $ celery -A app jobs limits
    conveyor:limit:tasks.report_generation_job.ReportGenerationJob:42  1/1 running, 3 blocked
"""

from __future__ import annotations

from typing import Any

import click

__all__ = ["busy", "limits", "workers"]


@click.command()
@click.pass_context
def busy(ctx: click.Context) -> None:
    """Jobs running now on any worker: worker, job, job id, since, runtime."""
    from conveyor.broker.busy import busy as held_jobs

    running = _with_broker(ctx, held_jobs)
    click.echo(f"{len(running)} job(s) running")
    for job in running:
        since = _clock(job.since)
        runtime = "?" if job.runtime_s is None else _duration(job.runtime_s)
        click.echo(f"{job.host}:{job.pid}  {job.job_class}  {job.job_id}  {job.queue}  since {since}  {runtime}")


@click.command()
@click.pass_context
def workers(ctx: click.Context) -> None:
    """Worker processes consuming jobs, alive or found dead, with their last heartbeat."""
    import time

    from conveyor.broker.busy import workers as owners

    found = _with_broker(ctx, owners)
    click.echo(f"{sum(o.alive for o in found)} alive, {sum(not o.alive for o in found)} dead (jobs being recovered)")
    for owner in found:
        state = "alive" if owner.alive else "DEAD "
        ago = _duration(max(0.0, time.time() - owner.last_beat))
        click.echo(f"{state}  {owner.host}:{owner.pid}  {owner.id}  last heartbeat {ago} ago  "
                   f"holding {owner.holding}  queues {','.join(owner.queues)}")  # fmt: skip


@click.command()
@click.pass_context
def limits(ctx: click.Context) -> None:
    """Concurrency limits and throttles in use: holders (with the seconds their slot has left), blocked and
    throttled jobs."""
    from conveyor.broker.controls import limit_keys, throttle_keys

    in_use, windows = _with_broker(ctx, lambda client: (limit_keys(client), throttle_keys(client)))
    click.echo(f"{len(in_use)} concurrency limit key(s) in use, {len(windows)} throttle window(s)")
    for limit in in_use:
        click.echo(f"{limit['key']}  {len(limit['holders'])}/{limit['to']} running, {limit['blocked']} blocked")
        for job_id, left in limit["holders"]:
            click.echo(f"  {job_id}  slot expires in {_duration(left)}")
    for window in windows:
        click.echo(
            f"{window['key']}  {window['starts']} start(s) in the window, expires in {_duration(window['ttl_s'])}"
        )
    throttled = _with_broker(ctx, lambda client: client.zcard("conveyor:scheduled"))
    click.echo(f"{throttled} job(s) in the scheduled set (throttled jobs wait there too)")


def _with_broker(ctx: click.Context, read: Any) -> Any:
    from conveyor.settings import redis_client

    client = redis_client(ctx.obj.app)
    try:
        return read(client)
    finally:
        client.close()


def _clock(timestamp: float | None) -> str:
    import datetime as dt

    if timestamp is None:
        return "?"
    return dt.datetime.fromtimestamp(timestamp).astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"
