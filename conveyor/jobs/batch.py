"""``Batch``: a group of jobs whose callbacks run once when they all succeed, all end, or one is lost.

Sidekiq Pro's batches, on conveyor's Redis (``conveyor.broker.batches`` keeps them, and records each
job's end in one script keyed by job id, so a job delivered again changes nothing twice)::

    batch = Batch(description="Import 42", properties={"import_id": 42})
    batch.on("success", ImportSucceededJob)   # every job succeeded (after its retries)
    batch.on("finish", ImportSummaryJob)      # every job ended: succeeded, discarded or dead
    batch.on("discard", ImportAlertJob)       # the first job that was discarded or died
    with batch.jobs():                        # what is enqueued inside is in the batch
        for row in rows:
            ImportRowJob.perform_later(row.id)
    # sealed here: the batch finishes when its last job ends (at once if it has none)

A callback job's ``perform`` receives the batch first (``def perform(self, batch, ...)``), then
the arguments given to ``on``. Inside a batch job ``self.batch`` is its batch: ``with
self.batch.jobs():`` adds jobs before the running one ends, and a ``Batch`` made there is a child
whose parent finishes only after it.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import uuid
from collections.abc import Iterator, Sequence
from typing import Any

from celery import Celery

from conveyor.broker.batches import (
    CHILD_PREFIX,
    DEAD,
    EVENTS,
    BatchState,
    RedisBatchStore,
    UnknownBatchError,
    check_batch_id,
)
from conveyor.broker.dead.dead_set import DeadSet
from conveyor.compat import kombu as kombu_compat
from conveyor.jobs import batch_scope
from conveyor.jobs.adapters import current_adapter
from conveyor.jobs.app_lookup import current_app
from conveyor.jobs.enqueuing import Enqueuing
from conveyor.jobs.redis_sender import _redis_envelope
from conveyor.serialization import register_serializer
from conveyor.settings import redis_client, settings_for

__all__ = ["Batch", "BatchState", "UnknownBatchError", "batch_store"]

_stores: dict[tuple[int, int], RedisBatchStore] = {}
_stores_lock = threading.Lock()


def batch_store(app: Celery) -> Any:
    """Where batches live: the test adapter's memory (``conveyor.testing``), or the broker's Redis.

    One Redis client per process and app: a job's end is one round trip, not a new connection.
    """
    memory = getattr(current_adapter(), "batches", None)
    if memory is not None:
        return memory
    key = (os.getpid(), id(app))
    store = _stores.get(key)
    if store is None:
        with _stores_lock:
            store = _stores.get(key) or RedisBatchStore(redis_client(app))
            _stores[key] = store
    return store


class Batch:
    """A group of jobs with callbacks; see the module docstring.

    ``Batch(description, properties)`` makes a new batch (in Redis at its first ``jobs()``);
    ``Batch.find(id)`` one that exists. ``properties`` is a JSON object kept with the batch for the
    callbacks (ids, not records: a batch keeps no results).
    """

    def __init__(self, description: str = "", properties: dict[str, Any] | None = None) -> None:
        if not isinstance(description, str):
            raise TypeError(f"Batch(description=...) must be a str, got {description!r}")
        properties = {} if properties is None else properties
        if not isinstance(properties, dict):
            raise TypeError(f"Batch(properties=...) must be a dict of JSON values, got {properties!r}")
        try:
            self._properties_json = json.dumps(properties, sort_keys=True)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"Batch(properties=...) must hold only JSON values (ids, not records): {exc}") from exc
        self.id = str(uuid.uuid4())
        self.description, self.properties = description, properties
        #: The batch of the job running here, if any: this one is its child.
        self.parent_id = batch_scope.running_batch_id()
        self._callbacks: dict[str, Enqueuing] = {}
        self._exists = False  # in Redis already (found, or a job's own batch): never created by jobs()
        self._init_holds()

    def _init_holds(self) -> None:
        # Jobs of its blocks held until their transaction commits, and the blocks whose close waits for them.
        self._holds_lock = threading.Lock()
        self._held_jobs = self._closes_waiting = 0

    @classmethod
    def _handle(cls, batch_id: str) -> Batch:
        """A batch known by id, without reading Redis (a job's ``self.batch``, a callback's argument)."""
        batch = cls.__new__(cls)
        batch.id = check_batch_id(batch_id)
        batch.description, batch.properties, batch._properties_json = "", {}, "{}"
        batch.parent_id, batch._callbacks, batch._exists = None, {}, True
        batch._init_holds()
        return batch

    @classmethod
    def find(cls, batch_id: str) -> Batch:
        """The batch with this id; ``UnknownBatchError`` if there is none (never made, or expired).

        Example::

            Batch.find("3f2c1a9e-…").status.pending
        """
        batch = cls._handle(batch_id)
        state = batch.status
        batch.description, batch.properties, batch.parent_id = state.description, state.properties, state.parent
        return batch

    def on(self, event: str, job_class: type[Enqueuing], *args: Any, **kwargs: Any) -> Batch:
        """Run ``job_class(batch, *args, **kwargs)`` when ``event`` happens (once per batch); returns the batch.

        Events: ``success`` (every job succeeded, after its retries; never for a cancelled batch),
        ``finish`` (every job ended: succeeded, discarded or dead), ``discard`` (the first job that
        was discarded or died). The arguments are checked against ``perform`` here.
        """
        if event not in EVENTS:
            raise ValueError(f"Batch.on({event!r}, ...): the events are {', '.join(map(repr, EVENTS))}")
        if not (isinstance(job_class, type) and issubclass(job_class, Enqueuing) and hasattr(job_class, "perform")):
            raise TypeError(
                f"Batch.on({event!r}, {job_class!r}): a callback is a Job class, such as "
                "class ImportSummaryJob(Job) with def perform(self, batch): ..."
            )
        self._callbacks[event] = job_class(self, *args, **kwargs)  # TypeError here if perform does not fit
        if self._exists:  # declared on a batch already in Redis: stored now
            app = current_app()
            store = batch_store(app)
            if store.state(self.id).finished:
                raise ValueError(
                    f"Batch.on({event!r}, ...): batch {self.id} has finished, so the callback would never run; "
                    "declare callbacks before its last job ends (before or inside its first jobs() block)"
                )
            store.set_callback(self.id, event, self._target(app, store, self._callbacks[event]))
        return self

    @contextlib.contextmanager
    def jobs(self) -> Iterator[Batch]:
        """Jobs enqueued in this block (``perform_later``, ``perform_all_later``, ``set(wait=…)``, mailers'
        ``deliver_later``) are in the batch; on exit it is sealed, and finishes when they have all ended.

        Blocks may be nested, repeated, or open in several threads at once (each thread opens its own):
        the batch cannot finish while one is open. Inside a batch job, ``with self.batch.jobs():``
        adds jobs before the running one ends: the running job, pending until then, keeps the batch
        open, so that block is not counted (a worker killed inside it leaves nothing open). A block
        that raises still seals what it sent.
        """
        app = current_app()
        store = batch_store(app)
        counted = self.id != batch_scope.running_batch_id()
        if counted:
            targets = {event: self._target(app, store, job) for event, job in self._callbacks.items()}
            store.open(
                self.id,
                description=self.description,
                properties=self._properties_json,
                parent=self.parent_id,
                callbacks=targets,
                must_exist=self._exists,
            )
            self._exists = True
        token = batch_scope.opened(self)
        try:
            yield self
        finally:
            batch_scope.closed(token)
            with self._holds_lock:
                waits = self._held_jobs > 0
                self._closes_waiting += waits and counted
            if counted and not waits:
                store.close(self.id)

    def _target(self, app: Celery, store: Any, job: Enqueuing) -> Any:
        """What the store pushes when the callback fires: the job itself in memory, or its message in Redis."""
        if store.in_memory:
            return job
        job._resolve_options(job._options, settings_for(app))
        name, message, options = current_adapter().message(app, job.serialize())  # type: ignore[attr-defined]
        with app.producer_or_acquire(None) as producer:
            channel = producer.channel
            kombu_compat.check_redis_channel(channel)
            producer.maybe_declare(app.amqp.queues[options["queue"]])
            return _redis_envelope(app, channel, name, message, options)

    # --- the enqueue path's side (conveyor.jobs.batch_scope.OpenBatch) ---------------------------

    def register(self, app: Any, job_ids: Sequence[str]) -> None:
        """Record ``job_ids`` as pending before they are sent (``perform_later`` and ``perform_all_later`` call it)."""
        if job_ids:
            batch_store(app).add(self.id, job_ids)

    def forget(self, app: Any, job_ids: Sequence[str]) -> None:
        """Take back jobs that were registered but not sent."""
        if job_ids:
            batch_store(app).forget(self.id, job_ids)

    def held(self, count: int) -> None:
        """``count`` jobs of a block wait for their transaction's commit: the block's close waits for them.

        Sealing at the block's end would let the batch finish (empty) before they are sent; after a
        rollback they are never sent, and the batch stays open until its keys expire.
        """
        with self._holds_lock:
            self._held_jobs += count

    def released(self, app: Any) -> None:
        """A held job was sent: the last one closes the blocks that ended meanwhile."""
        with self._holds_lock:
            self._held_jobs -= 1
            closes = self._closes_waiting if self._held_jobs <= 0 else 0
            self._closes_waiting -= closes
        for _ in range(closes):
            batch_store(app).close(self.id)

    # --- status and control ------------------------------------------------------------------

    @property
    def status(self) -> BatchState:
        """Counts (total, pending, retrying, succeeded, discarded, dead, children), times, callbacks fired."""
        state: BatchState = batch_store(current_app()).state(self.id)
        return state

    @property
    def cancelled(self) -> bool:
        """True once ``cancel()`` was called: a batch job checks it to stop early (one Redis read)."""
        return bool(batch_store(current_app()).cancelled(self.id))

    def members(self, state: str | None = None, limit: int = 1000) -> dict[str, list[str]]:
        """Job ids by state (``p``/``r``/``s``/``x``/``d``; child batches as ``b:<id>``), up to ``limit`` each."""
        return batch_store(current_app()).members(self.id, state, limit)  # type: ignore[no-any-return]

    def cancel(self) -> None:
        """Mark the batch cancelled: ``self.batch.cancelled`` is then True in its jobs, which can stop early.

        The batch still finishes when its jobs have ended (``finish`` runs); ``success`` never does.
        """
        if not batch_store(current_app()).cancel(self.id):
            raise UnknownBatchError(f"no batch {self.id}: it was never created, or its keys expired")

    def retry_dead(self) -> int:
        """Send its dead jobs again (from the dead set) and reopen the batch for them; how many were sent.

        Callbacks already run do not run again; one that never ran can now (``success`` once they
        succeed). A child batch's dead jobs are sent again too.
        """
        app = current_app()
        store = batch_store(app)
        if store.in_memory:
            raise NotImplementedError(
                "retry_dead() sends jobs from the dead set, which tests without Redis do not have"
            )
        dead_set, sent = DeadSet.for_app(app), 0
        # Reopened first, then sent: a job that ends at once finds itself pending. One that cannot be
        # sent (its dead record was trimmed or retried meanwhile) is recorded dead again.
        for member in store.members(self.id, DEAD, limit=1_000_000)[DEAD]:
            store.reopen(self.id, [member])
            try:
                if member.startswith(CHILD_PREFIX):
                    resent = Batch._handle(member[len(CHILD_PREFIX) :]).retry_dead() > 0
                else:
                    resent = dead_set.retry(app, member)
            except Exception:
                store.end(self.id, member, DEAD)
                raise
            if resent:
                sent += 1
            else:
                store.end(self.id, member, DEAD)
        self._reopen_in_parents(store, sent)
        return sent

    def _reopen_in_parents(self, store: Any, sent: int) -> None:
        """A child with jobs sent again is pending again in its parent (and so on up), if it was dead there."""
        child, parent = self.id, store.state(self.id).parent if sent else None
        while parent:
            if not store.reopen(parent, [CHILD_PREFIX + child]):
                return  # not dead there (its parent's own retry_dead reopened it already)
            child, parent = parent, store.state(parent).parent

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Batch) and other.id == self.id

    def __hash__(self) -> int:
        return hash(self.id)

    def __repr__(self) -> str:
        return f"<Batch {self.id} {self.description!r}>"


# A callback's first argument: the batch travels as its id, and comes back as a handle (no Redis read).
register_serializer(Batch, serialize=lambda batch: batch.id, deserialize=Batch._handle, name="conveyor.Batch")
