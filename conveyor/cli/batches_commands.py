"""``celery -A app jobs batches``: batches and their progress; a batch's jobs; retry its dead jobs; cancel it.

::

    $ celery -A app jobs batches
    2 batch(es)
    3f2c1a9e-…  running   Import 42  982 of 1000 ended: 970 succeeded, 2 discarded, 10 dead (3 retrying)
    $ celery -A app jobs batches show 3f2c1a9e-…      # counts, times, callbacks, its dead jobs
    $ celery -A app jobs batches retry-dead 3f2c1a9e-…
    $ celery -A app jobs batches cancel 3f2c1a9e-…
"""

from __future__ import annotations

import json
from typing import Any

import click

from conveyor.broker.batches import DEAD, DISCARDED, EVENTS, BatchState, check_batch_id
from conveyor.cli.output import duration, printable
from conveyor.errors import UnknownBatchError
from conveyor.schedule.file import local_clock

__all__ = ["batches"]


def _batch(ctx: click.Context, batch_id: str) -> Any:
    """The batch ``batch_id`` of the app (made current: the Batch API reads it); one line if there is none."""
    from conveyor.jobs.batch import Batch

    ctx.obj.app.set_current()
    try:
        return Batch.find(check_batch_id(batch_id))
    except (ValueError, UnknownBatchError) as exc:
        raise click.ClickException(str(exc)) from None


def progress(state: BatchState) -> str:
    """``982 of 1000 ended: 970 succeeded, 2 discarded, 10 dead (3 retrying)``."""
    ended = state.succeeded + state.discarded + state.dead
    retrying = f" ({state.retrying} retrying)" if state.retrying else ""
    children = f", {state.children} child batch(es)" if state.children else ""
    return (
        f"{ended} of {state.total} ended: {state.succeeded} succeeded, {state.discarded} discarded, "
        f"{state.dead} dead{retrying}{children}"
    )


@click.group(name="batches", invoke_without_command=True)
@click.pass_context
def batches(ctx: click.Context) -> None:
    """Batches (conveyor.Batch): list, show ID, retry-dead ID, cancel ID."""
    if ctx.invoked_subcommand is None:
        ctx.invoke(listing, limit=50)


@batches.command(name="list")
@click.option("--limit", type=click.IntRange(1), default=50, show_default=True, help="how many, newest first")
@click.pass_context
def listing(ctx: click.Context, limit: int) -> None:
    """Batches, newest first, with their progress."""
    from conveyor.jobs.batch import batch_store

    ctx.obj.app.set_current()
    store = batch_store(ctx.obj.app)
    total, shown = store.count(), []
    for batch_id in store.ids(limit=limit):
        try:
            shown.append(store.state(batch_id))
        except UnknownBatchError:  # expired since the index listed it
            continue
    more = f", {len(shown)} shown (--limit)" if total > limit else ""
    click.echo(f"{total} batch(es){more}")
    for state in shown:
        click.echo(printable(f"{state.id}  {state.state:<9} {state.description or '-'}  {progress(state)}"))


@batches.command(name="show")
@click.argument("batch_id")
@click.option("--limit", type=click.IntRange(1), default=20, show_default=True, help="job ids shown per state")
@click.pass_context
def show(ctx: click.Context, batch_id: str, limit: int) -> None:
    """A batch: its counts, times, callbacks, parent, and its dead and discarded jobs."""
    batch = _batch(ctx, batch_id)
    state: BatchState = batch.status
    click.echo(printable(f"Batch {state.id}  {state.description or '-'}  {state.state}"))
    click.echo(printable(f"properties: {json.dumps(state.properties, sort_keys=True)}"))
    click.echo(f"jobs: {progress(state)}; {state.pending} pending")
    created = f"created {local_clock(state.created_at)}"
    finished = (
        f", finished {local_clock(state.finished_at)} (after {duration(state.finished_at - state.created_at)})"
        if state.finished_at is not None
        else ""
    )
    click.echo(created + finished + (", cancelled" if state.cancelled else ""))
    if state.parent:
        click.echo(f"parent: {state.parent}")
    for event in EVENTS:
        if event in state.callbacks:
            at = state.fired.get(event)
            click.echo(f"callback {event}: " + (f"sent {local_clock(at)}" if at is not None else "not sent"))
    members = batch.members(limit=limit)
    for code, name in ((DEAD, "dead"), (DISCARDED, "discarded")):
        if members[code]:
            click.echo(f"{name}: " + ", ".join(members[code]))


@batches.command(name="retry-dead")
@click.argument("batch_id")
@click.pass_context
def retry_dead(ctx: click.Context, batch_id: str) -> None:
    """Send BATCH_ID's dead jobs again (from the dead set); the batch is open until they end."""
    batch = _batch(ctx, batch_id)
    dead = batch.status.dead
    if not dead:
        raise click.ClickException(f"batch {batch_id} has no dead jobs")
    sent = batch.retry_dead()
    click.echo(f"Sent {sent} of the {dead} dead job(s) of batch {batch_id} again")
    if sent < dead:
        raise click.ClickException(f"{dead - sent} dead job(s) were no longer in the dead set (trimmed or retried)")


@batches.command(name="cancel")
@click.argument("batch_id")
@click.pass_context
def cancel(ctx: click.Context, batch_id: str) -> None:
    """Cancel BATCH_ID: its jobs see self.batch.cancelled; it finishes when they have ended (no success)."""
    batch = _batch(ctx, batch_id)
    state = batch.status
    if state.finished:
        raise click.ClickException(f"batch {batch_id} has already finished: nothing to cancel")
    if state.cancelled:
        raise click.ClickException(f"batch {batch_id} is already cancelled")
    batch.cancel()
    click.echo(f"Cancelled batch {batch_id}: {state.pending} pending job(s) see self.batch.cancelled")
