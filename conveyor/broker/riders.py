"""Writes that ride along with one job's send: in its pipeline, before its ``LPUSH``, in its round trip.

A caller that must record something next to a job (``conveyor.django``'s READY result) would
otherwise pay a second round trip per enqueue. Inside ``riding(write)``, conveyor's channel calls
``write(pipe)`` in the pipeline that pushes the message, ahead of the push: Redis runs one
connection's commands in order, so no worker can see the message before the write. Only the plain
send path takes riders; a ``@unique`` send (one script), kombu's publish batches, key-prefixed or
expiring queues and the scheduled set (``wait``/``wait_until``) do not. ``Rider.applied`` tells
the caller, which then writes on its own, in a way that cannot undo what a worker wrote since.

Example::

    rider = Rider(lambda pipe: pipe.hset(key, mapping=record))
    with riding(rider):
        job.enqueue()
    if not rider.applied:
        write_safely(record)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

__all__ = ["Rider", "apply_rider", "riding"]


class Rider:
    """One write to ride with the next send in this context; ``applied`` once it went into a pipeline."""

    __slots__ = ("applied", "write")

    def __init__(self, write: Callable[[Any], Any]) -> None:
        self.write, self.applied = write, False


_rider: ContextVar[Rider | None] = ContextVar("conveyor_rider", default=None)


@contextmanager
def riding(rider: Rider) -> Iterator[Rider]:
    """Sends in this block (in this thread or task) carry ``rider``'s write."""
    token = _rider.set(rider)
    try:
        yield rider
    finally:
        _rider.reset(token)


def apply_rider(pipe: Any) -> None:
    """Queue the current rider's write on ``pipe`` (the channel's send pipeline), if there is one.

    A send that kombu retries after a connection error writes it again: the write must be
    idempotent (an HSET is).
    """
    rider = _rider.get()
    if rider is not None:
        rider.write(pipe)
        rider.applied = True
