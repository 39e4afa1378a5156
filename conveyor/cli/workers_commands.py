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

import click

from conveyor.cli.output import duration, with_redis
from conveyor.schedule.file import local_clock

__all__ = ["busy", "limits", "workers"]


@click.command()
@click.pass_context
def busy(ctx: click.Context) -> None:
    """Jobs running now on any worker: worker, job, job id, since, runtime."""
    from conveyor.broker.views.busy import busy as held_jobs

    running = with_redis(ctx, held_jobs)
    click.echo(f"{len(running)} job(s) running")
    for job in running:
        since = local_clock(job.since)
        runtime = "?" if job.runtime_s is None else duration(job.runtime_s)
        click.echo(f"{job.host}:{job.pid}  {job.job_class}  {job.job_id}  {job.queue}  since {since}  {runtime}")


@click.command()
@click.pass_context
def workers(ctx: click.Context) -> None:
    """Worker processes consuming jobs, alive or found dead, with their last heartbeat."""
    import time

    from conveyor.broker.views.busy import workers as owners

    found = with_redis(ctx, owners)
    click.echo(f"{sum(o.alive for o in found)} alive, {sum(not o.alive for o in found)} dead (jobs being recovered)")
    for owner in found:
        state = "alive" if owner.alive else "DEAD "
        ago = duration(max(0.0, time.time() - owner.last_beat))
        click.echo(
            f"{state}  {owner.host}:{owner.pid}  {owner.id}  last heartbeat {ago} ago  "
            f"holding {owner.holding}  queues {','.join(owner.queues)}"
        )


@click.command()
@click.pass_context
def limits(ctx: click.Context) -> None:
    """Concurrency limits and throttles in use: holders (with the seconds their slot has left), blocked and
    throttled jobs."""
    from conveyor.broker.controls import limit_keys, throttle_keys
    from conveyor.broker.scheduled.scheduled_set import count

    in_use, windows, throttled = with_redis(
        ctx, lambda client: (limit_keys(client), throttle_keys(client), count(client))
    )
    click.echo(f"{len(in_use)} concurrency limit key(s) in use, {len(windows)} throttle window(s)")
    for limit in in_use:
        click.echo(f"{limit['key']}  {len(limit['holders'])}/{limit['to']} running, {limit['blocked']} blocked")
        for job_id, left in limit["holders"]:
            click.echo(f"  {job_id}  slot expires in {duration(left)}")
    for window in windows:
        click.echo(
            f"{window['key']}  {window['starts']} start(s) in the window, expires in {duration(window['ttl_s'])}"
        )
    click.echo(f"{throttled} job(s) in the scheduled set (throttled jobs wait there too)")
