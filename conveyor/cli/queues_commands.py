"""``celery -A app jobs queues``: what waits where, and pausing a queue.

::

    $ celery -A app jobs queues
    queue                     waiting  by priority
    high_priority                   0  -  (2 consumer(s))
    low_priority                   12  5: 12  (latency 41s, 2 consumer(s), PAUSED)
    reprots                         3  5: 3  (latency 300s, 0 consumer(s), no worker consumes it)
    $ celery -A app jobs queues pause low_priority
"""

from __future__ import annotations

from typing import Any

import click

from conveyor.cli.output import printable, with_redis

__all__ = ["queues"]


@click.group(invoke_without_command=True)
@click.pass_context
def queues(ctx: click.Context) -> None:
    """Jobs waiting per queue and priority, latency, consumers; `queues pause|resume QUEUE`."""
    if ctx.invoked_subcommand is not None:
        return
    from conveyor.broker.views.queue_state import overview

    rows = with_redis(ctx, lambda client: overview(ctx.obj.app, client))
    click.echo(f"{'queue':24} {'waiting':>8}  by priority")
    for row in rows:
        detail = ", ".join(f"{priority}: {depth}" for priority, depth in row.by_priority.items()) or "-"
        notes = [
            f"latency {row.latency_s:.0f}s" if row.latency_s is not None else "",
            f"{row.consumers} consumer(s)",
            "PAUSED" if row.paused else "",
            "no worker consumes it" if row.unconsumed else "",
        ]
        click.echo(
            printable(f"{row.name:24} {row.waiting:8d}  {detail}  ({', '.join(note for note in notes if note)})")
        )


@queues.command(name="pause")
@click.argument("queue")
@click.pass_context
def queues_pause(ctx: click.Context, queue: str) -> None:
    """Stop workers taking jobs from QUEUE (jobs sent to it wait; survives worker restarts)."""
    from conveyor.broker.views.queue_state import pause

    _on_queue_state(ctx, "pause", pause, queue)
    click.echo(f"Paused {queue}: workers take no job from it until `celery -A app jobs queues resume {queue}`")


@queues.command(name="resume")
@click.argument("queue")
@click.pass_context
def queues_resume(ctx: click.Context, queue: str) -> None:
    """Let workers take jobs from QUEUE again."""
    from conveyor.broker.views.queue_state import resume

    _on_queue_state(ctx, "resume", resume, queue)
    click.echo(f"Resumed {queue}")


def _on_queue_state(ctx: click.Context, action: str, act: Any, queue: str) -> None:
    from conveyor.broker.views.queue_state import action_refusal
    from conveyor.settings import settings_for

    app = ctx.obj.app
    physical = settings_for(app).queue(queue)

    def checked(client: Any) -> str | None:
        refusal = action_refusal(app, client, physical, action)
        if refusal is None:
            act(client, physical)
        return refusal

    refusal = with_redis(ctx, checked)
    if refusal is not None:  # a queue no worker knows, or a key that is not a queue: said, nothing done
        raise click.UsageError(refusal)
