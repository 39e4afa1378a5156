"""Which batch the code running here adds jobs to: the ``jobs()`` block open in this context, and the batch
of the job running in it.

``conveyor.jobs.batch`` opens and closes blocks; the enqueue path (``conveyor.jobs.enqueuing``) asks
``open_batch()`` which batch a job it sends goes into, and registers the job there before it is sent.
Both are context variables: a block is open for its own thread (and the asyncio tasks it starts),
not for threads it starts, which open a block of their own.

Example::

    token = opened(batch)             # Batch.jobs() on entry
    open_batch()                      # batch, for perform_later in this context
    closed(token)                     # on exit
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextvars import ContextVar, Token
from typing import Any, Protocol

__all__ = ["OpenBatch", "closed", "open_batch", "opened", "running_batch_id", "running_in"]


class OpenBatch(Protocol):
    """What the enqueue path sees of a batch whose ``jobs()`` block is open."""

    id: str

    def register(self, app: Any, job_ids: Sequence[str]) -> None:
        """Record ``job_ids`` as the batch's pending jobs, before they are sent."""

    def forget(self, app: Any, job_ids: Sequence[str]) -> None:
        """Take back jobs registered but not sent (a failed send, a refused duplicate)."""

    def held(self, count: int) -> None:
        """``count`` of its jobs wait for their transaction to commit: the batch is not sealed before they are sent."""

    def released(self, app: Any) -> None:
        """A held job was sent (or given up after its commit)."""


_open: ContextVar[OpenBatch | None] = ContextVar("conveyor_open_batch", default=None)
_running: ContextVar[str | None] = ContextVar("conveyor_running_batch", default=None)


def open_batch() -> OpenBatch | None:
    """The batch whose ``jobs()`` block is open here, if any."""
    return _open.get()


def opened(batch: OpenBatch) -> Token[OpenBatch | None]:
    """Jobs enqueued in this context go into ``batch`` until ``closed(token)``."""
    return _open.set(batch)


def closed(token: Token[OpenBatch | None]) -> None:
    """End what ``opened`` began."""
    _open.reset(token)


def running_batch_id() -> str | None:
    """The batch of the job running in this context (a batch made here is its child), if any."""
    return _running.get()


def running_in(batch_id: str | None) -> Callable[[], None]:
    """The job running in this context is in ``batch_id``; call the result when it ends."""
    token = _running.set(batch_id)
    return lambda: _running.reset(token)
