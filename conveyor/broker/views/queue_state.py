"""Queues as an operator sees them: paused or not, size per priority, latency, consumers.

**Pause** (Sidekiq Pro's): a paused queue's name is in ``conveyor:paused``; the claim script
(``conveyor.broker.fetch.claim``) skips its lists, so workers stop taking from it while producers
keep sending to it. Nothing is lost and the pause survives worker restarts (it lives in
Redis); ``resume`` removes the name and wakes the queue's idle workers at once.

**Depths** (``queue_depths``): waiting jobs per configured queue and priority, for metrics.

**Overview**: every configured queue, and every non-empty queue list that no live worker
consumes (flagged, Sidekiq shows them too: a typo in ``queue_as`` ends up there), with its
size per priority, its latency (the age of the oldest waiting job, from the ``enqueued_at``
of the message at the head of each priority list), its live consumers (from the super
fetch's heartbeats) and whether it is paused.

Example::

    pause(client, "low_priority")
    [row] = [q for q in overview(app, client) if q.name == "low_priority"]
    row.paused, row.waiting, row.latency_s
"""

from __future__ import annotations

import datetime as dt
import difflib
import json
import time
from dataclasses import dataclass, field
from typing import Any

from conveyor.broker.fetch.reliable_fetch import wake
from conveyor.broker.scripts import Script
from conveyor.broker.views.busy import workers
from conveyor.defaults import PRIORITY_STEPS
from conveyor.errors import ConveyorError
from conveyor.keys import PAUSED_KEY, PRIORITY_SEPARATOR, priority_queue_key
from conveyor.settings import redis_client
from conveyor.validation import RESERVED_PREFIXES, is_reserved, validate_queue_name

__all__ = [
    "QueueRow",
    "action_refusal",
    "known_queues",
    "overview",
    "pause",
    "paused",
    "priority_steps",
    "purge",
    "queue_depths",
    "queue_keys",
    "resume",
    "waiting_in",
]


@dataclass
class QueueRow:
    """One queue on the Queues page and in ``jobs queues``."""

    name: str
    configured: bool
    paused: bool
    by_priority: dict[int, int] = field(default_factory=dict)
    latency_s: float | None = None
    consumers: int = 0

    @property
    def waiting(self) -> int:
        return sum(self.by_priority.values())

    @property
    def unconsumed(self) -> bool:
        """Jobs wait here and no live worker takes from this queue."""
        return self.waiting > 0 and self.consumers == 0


_PURGE = Script("purge_queue")


def known_queues(app: Any, client: Any) -> set[str]:
    """The queues an operator may act on: configured, consumed by a live worker, holding jobs, or paused.

    Never a name under a reserved prefix (``conveyor.validation.RESERVED_PREFIXES``, the app's
    redbeat prefix, pidbox lists), whatever Redis holds under it.
    """
    names = {queue.name for queue in app.conf.task_queues or []} | {app.conf.task_default_queue}
    names |= _other_queue_lists(client, app) | paused(client)
    names |= {queue for owner in workers(client) if owner.alive for queue in owner.queues}
    return {name for name in names if not _reserved(app, name)}


def action_refusal(app: Any, client: Any, name: str, action: str) -> str | None:
    """Why ``action`` (pause, resume, clear) may not touch ``name``, with the fix first; None if it may.

    Example::

        action_refusal(app, client, "conveyor:scheduled", "clear")
        # "'conveyor:scheduled' is not a queue: ... nothing was cleared"
    """
    past = {"pause": "paused", "resume": "resumed", "clear": "cleared"}[action]
    if _reserved(app, name):
        return (
            f"{name!r} is not a queue: it is a key conveyor, kombu, redbeat or Celery keep "
            f"({', '.join(RESERVED_PREFIXES)}…, …pidbox); nothing was {past}"
        )
    try:
        validate_queue_name(name, "QUEUE", error=ConveyorError)
    except ConveyorError as exc:
        return str(exc)
    if action == "resume" and name in paused(client):
        return None
    known = known_queues(app, client)
    if name in known:
        return None
    close = difflib.get_close_matches(name, known, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return (
        f"no queue {name!r}: {hint}it is not configured, no worker consumes it and no job waits in it "
        f"(queues: {', '.join(sorted(known)) or 'none'}); nothing was {past}"
    )


def purge(app: Any, client: Any, queue: str) -> int:
    """Delete the jobs waiting in ``queue`` (every priority list) in one script; how many were deleted.

    A priority key that is not a list (another program's structure under a queue's name) is left
    as it is, and said: ``ConveyorError`` once the lists are cleared.
    """
    deleted, kept = _PURGE(client, queue_keys(app, queue), [])
    if kept:
        raise ConveyorError(f"cleared {deleted} job(s) from {queue}; {kept} key(s) of its name are not lists, kept")
    return int(deleted)


def priority_steps(app: Any) -> list[int]:
    """The priority steps the app's transport keeps a list for (``broker_transport_options``)."""
    return list((app.conf.broker_transport_options or {}).get("priority_steps", PRIORITY_STEPS))


def queue_keys(app: Any, queue: str) -> list[str]:
    """The Redis lists holding ``queue``'s jobs, one per priority step."""
    return [priority_queue_key(queue, step) for step in priority_steps(app)]


def waiting_in(app: Any, client: Any, queue: str) -> int:
    """How many jobs wait in ``queue``, every priority (one round trip)."""
    with client.pipeline(transaction=False) as pipe:
        for key in queue_keys(app, queue):
            pipe.llen(key)
        return sum(int(length) for length in pipe.execute())


def queue_depths(app: Any) -> list[tuple[str, int, int]]:
    """(queue, priority, waiting jobs) for every configured queue and priority step, in one round trip.

    What Flower's queue-depth metrics read on every scrape: configured queues only, no latency
    or consumers (``overview`` is the operator's full view).
    """
    names = [queue.name for queue in app.conf.task_queues or []] or [app.conf.task_default_queue]
    keys = [(name, step) for name in names for step in priority_steps(app)]
    client = redis_client(app)
    try:
        with client.pipeline(transaction=False) as pipe:
            for name, step in keys:
                pipe.llen(priority_queue_key(name, step))
            lengths = pipe.execute()
    finally:
        client.close()
    return [(name, step, int(length)) for (name, step), length in zip(keys, lengths, strict=True)]


def pause(client: Any, queue: str) -> bool:
    """Stop workers taking from ``queue``; False if it was paused already."""
    return bool(client.sadd(PAUSED_KEY, queue))


def resume(client: Any, queue: str) -> bool:
    """Let workers take from ``queue`` again, waking its idle ones; False if it was not paused."""
    with client.pipeline(transaction=True) as pipe:
        pipe.srem(PAUSED_KEY, queue)
        wake(pipe, queue, tokens=10)
        removed, *_ = pipe.execute()
    return bool(removed)


def paused(client: Any) -> set[str]:
    return {name.decode() for name in client.smembers(PAUSED_KEY)}


def overview(app: Any, client: Any, steps: list[int] | None = None) -> list[QueueRow]:
    """Configured queues first (in the app's order), then non-empty lists of other queues."""
    steps = steps or priority_steps(app)
    configured = [queue.name for queue in app.conf.task_queues or []] or [app.conf.task_default_queue]
    names = list(dict.fromkeys([*configured, *sorted(_other_queue_lists(client, app) - set(configured))]))
    stopped = paused(client)
    consumers: dict[str, int] = {}
    for owner in workers(client):
        if owner.alive:
            for queue in owner.queues:
                consumers[queue] = consumers.get(queue, 0) + 1
    with client.pipeline(transaction=False) as pipe:
        for name in names:
            for step in steps:
                pipe.llen(priority_queue_key(name, step))
                pipe.lindex(priority_queue_key(name, step), -1)  # the oldest: workers take from this end
        replies = pipe.execute()
    rows, now, at = [], time.time(), 0
    for name in names:
        row = QueueRow(name, name in configured, name in stopped, consumers=consumers.get(name, 0))
        oldest: list[float] = []
        for step in steps:
            length, head = replies[at], replies[at + 1]
            at += 2
            if length:
                row.by_priority[step] = int(length)
                enqueued = _enqueued_at(head)
                if enqueued is not None:
                    oldest.append(enqueued)
        row.latency_s = max(0.0, now - min(oldest)) if oldest else None
        rows.append(row)
    return rows


def _reserved(app: Any, name: str) -> bool:
    redbeat = app.conf.get("redbeat_key_prefix") or "redbeat:"
    return is_reserved(name) or name.startswith(redbeat)


def _other_queue_lists(client: Any, app: Any) -> set[str]:
    """Names of queue lists in Redis (kombu's layout), other than conveyor's, kombu's and redbeat's own keys."""
    found = set()
    for key in client.scan_iter(count=1000, _type="list"):
        name = key.decode(errors="replace").split(PRIORITY_SEPARATOR, 1)[0]
        if not _reserved(app, name):
            found.add(name)
    return found


def _enqueued_at(raw: bytes | None) -> float | None:
    """When the job in a queue entry was enqueued (conveyor's header), or None for other senders."""
    try:
        header = json.loads(raw)["headers"]["conveyor"]  # type: ignore[arg-type]
        return dt.datetime.fromisoformat(header["enqueued_at"]).timestamp()
    except (TypeError, ValueError, KeyError):
        return None
