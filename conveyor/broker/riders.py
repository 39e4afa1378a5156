"""Writes that ride along with one job's send: in its pipeline, before its ``LPUSH``, in its round trip.

A caller that must record something next to a job (``conveyor.django``'s READY result) would
otherwise pay a second round trip per enqueue. Inside ``riding(write)``, conveyor's channel calls
``write(pipe)`` in the pipeline that pushes the message, ahead of the push: Redis runs one
connection's commands in order, so no worker can see the message before the write. Only the plain
send path takes riders; a ``@unique`` send (one script), kombu's publish batches, key-prefixed or
expiring queues and the scheduled set (``wait``/``wait_until``) do not. ``Rider.applied`` tells
the caller, which then writes on its own, in a way that cannot undo what a worker wrote since.

Example::

    rider = Rider(job.job_id, lambda pipe: pipe.hset(key, mapping=record))
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

__all__ = ["Rider", "rider_for", "riding"]


class Rider:
    """A write to ride with the send of job ``job_id`` in this context; ``applied`` once that send went out.

    Tied to one job: a job another one enqueues meanwhile (a publish signal's handler) does not
    carry it. A send kombu retries writes it again, so the write must not undo what a worker
    wrote in between (``HSETNX`` a status, ``HSET`` only what no worker changes).
    """

    __slots__ = ("applied", "job_id", "write")

    def __init__(self, job_id: str, write: Callable[[Any], Any]) -> None:
        self.job_id, self.write, self.applied = job_id, write, False


_rider: ContextVar[Rider | None] = ContextVar("conveyor_rider", default=None)


@contextmanager
def riding(rider: Rider) -> Iterator[Rider]:
    """The send of ``rider.job_id`` in this block (in this thread or task) carries ``rider``'s write."""
    token = _rider.set(rider)
    try:
        yield rider
    finally:
        _rider.reset(token)


def rider_for(job_id: Any) -> Rider | None:
    """The rider of the send of ``job_id`` in this context, if there is one.

    The channel queues ``rider.write(pipe)`` ahead of its push and sets ``rider.applied`` once the
    pipeline has run.
    """
    rider = _rider.get()
    return rider if rider is not None and rider.job_id == job_id else None
