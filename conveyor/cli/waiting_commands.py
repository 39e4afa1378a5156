"""``celery -A app jobs scheduled|retries``: jobs waiting in the scheduled set, and acting on them.

::

    $ celery -A app jobs retries list --search Import
    1 job(s) waiting for a retry
    3c75…  DataImportJob('/data/in.csv',)  low_priority  due 2026-11-30 14:05:12 UTC (in 2m10s)  attempt 3 of 5
      OperationalError: database is locked
    $ celery -A app jobs retries run 3c75…      # now; also: delete ID, kill ID (to the dead set)
"""

from __future__ import annotations

import getpass
import time
from typing import Any

import click

from conveyor.cli.output import duration, printable, with_redis
from conveyor.schedule.file import local_clock

__all__ = ["retries", "scheduled"]

_TITLES = {"scheduled": "scheduled (set(wait=…), set(wait_until=…), throttled)", "retry": "waiting for a retry"}


def _group(kind: str, name: str, help_text: str) -> click.Group:
    @click.group(name=name, invoke_without_command=True, help=help_text)
    @click.option("--search", default="", help="only jobs whose class, queue, arguments, id or error contain this")
    @click.pass_context
    def group(ctx: click.Context, search: str) -> None:
        if ctx.invoked_subcommand is None:
            ctx.invoke(listing, search=search, limit=500)

    @group.command(name="list")
    @click.option("--search", default="", help="only jobs whose class, queue, arguments, id or error contain this")
    @click.option("--limit", type=click.IntRange(1), default=500, show_default=True, help="how many, soonest first")
    @click.pass_context
    def listing(ctx: click.Context, search: str, limit: int) -> None:
        """The waiting jobs, soonest first."""
        from conveyor.broker.scheduled.waiting import Kind, listing

        kinds: tuple[Kind, ...] = ("scheduled", "throttled") if kind == "scheduled" else ("retry",)
        found = with_redis(ctx, lambda c: listing(c, kinds, search=search, limit=limit))  # filtered, then cut
        jobs = found.jobs
        shown = f", {len(jobs)} shown (--limit)" if found.total > len(jobs) else ""
        click.echo(f"{found.total} job(s) {_TITLES[kind]}{shown}")
        now = time.time()
        for job in jobs:
            when = local_clock(job.due) + (f" (in {duration(job.due - now)})" if job.due > now else " (due)")
            tag = "  throttled" if job.kind == "throttled" else ""
            of = f" of {job.attempts}" if job.attempts else ""
            click.echo(
                printable(
                    f"{job.id}  {job.job_class}{job.arguments}  {job.queue}  due {when}  attempt {job.attempt}{of}{tag}"
                )
            )
            if job.error:
                click.echo(printable(f"  {job.error}"))

    for action, doc in (
        ("run", "Send JOB_ID to its queue now."),
        ("delete", "Delete JOB_ID (it will not run)."),
        ("kill", "Move JOB_ID to the dead set."),
    ):
        group.add_command(_action(action, doc))
    return group


def _action(action: str, doc: str) -> click.Command:
    @click.command(name=action, help=doc)
    @click.argument("job_id")
    @click.pass_context
    def act(ctx: click.Context, job_id: str) -> None:
        from conveyor.broker.scheduled import waiting

        who = f"{getpass.getuser()} (cli)"
        do: Any = {"run": waiting.run_now, "delete": waiting.delete, "kill": lambda c, i: waiting.kill(c, i, who)}
        if not with_redis(ctx, lambda client: do[action](client, job_id)):
            raise click.ClickException(f"no waiting job {job_id}")
        click.echo(
            {"run": "Sent {} to its queue", "delete": "Deleted {}", "kill": "Moved {} to the dead set"}[action].format(
                job_id
            )
        )

    return act


scheduled = _group(
    "scheduled", "scheduled", "Jobs waiting to run later (set(wait=…), throttled): list, run, delete, kill."
)
retries = _group("retry", "retries", "Jobs waiting for a retry: list, run, delete, kill.")
