"""Batches in Redis: a batch's members and counters, each job's end recorded once, callbacks pushed once.

A batch is three keys (``conveyor.keys``): a hash of its description, counters and callbacks, the
set of its pending members (job ids) and a hash of its members that ended (job id -> state). Every
change is one Lua script (``lua/batch_*.lua``, with the shared functions in ``lua/batch.lua``) keyed
by job id: a job's end takes its id out of the pending set (``SREM`` says whether it was there) and
records succeeded, discarded or dead only once, so an execution that super fetch delivers again
(by design, after a worker died before its acknowledgement) or that runs twice changes nothing the
second time. The script that records the last end also finds the batch complete and pushes its
callback messages (built by ``conveyor.jobs.batch`` when they were declared) under a once-only guard
(``HSETNX fired:<event>``): never "read in Python, then enqueue". A child batch is a member
``b:<id>`` of its parent; its completion is recorded in the parent in the same script.

Bounds: both keys expire ``BATCH_TTL_S`` after their last change; a batch holds at most
``BATCH_MAX_JOBS`` ids (never results); the index keeps ``BATCH_INDEX_MAX`` batches of the last TTL.

Example::

    store = RedisBatchStore(client)
    store.open(batch_id, description="Import 42", properties="{}", parent="", callbacks={})
    store.add(batch_id, [job_id])          # before the job is sent
    store.close(batch_id)                  # sealed: complete once nothing is pending
    store.end(batch_id, job_id, SUCCEEDED) # by the worker, before it acknowledges the job
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from conveyor.broker.scripts import Script
from conveyor.defaults import BATCH_INDEX_MAX, BATCH_MAX_JOBS, BATCH_TTL_S
from conveyor.errors import UnknownBatchError
from conveyor.keys import BATCH_PREFIX, BATCHES_KEY, WAKE_CAP, WAKE_PREFIX

__all__ = [
    "CHILD_PREFIX",
    "DEAD",
    "DISCARDED",
    "EVENTS",
    "PENDING",
    "RETRYING",
    "STATES",
    "SUCCEEDED",
    "BatchState",
    "RedisBatchStore",
    "UnknownBatchError",
    "ack_succeeded",
    "batch_key",
    "check_batch_id",
    "succeeded_at_ack",
    "take_succeeded_at_ack",
]

#: A member's state in the members hash (one letter: a batch of 10,000 keeps 10,000 of them).
PENDING, RETRYING, SUCCEEDED, DISCARDED, DEAD = "p", "r", "s", "x", "d"
STATES = {PENDING: "pending", RETRYING: "retrying", SUCCEEDED: "succeeded", DISCARDED: "discarded", DEAD: "dead"}
#: The callbacks a batch can have: every job succeeded / every job ended / the first that was discarded or died.
EVENTS = ("success", "finish", "discard")
#: A child batch's member name in its parent's members hash.
CHILD_PREFIX = "b:"
_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")

_OPEN = Script("helpers", "batch", "batch_open")
_CLOSE = Script("helpers", "batch", "batch_close")
_ADD = Script("batch_add")
_FORGET = Script("helpers", "batch", "batch_forget")
_END = Script("helpers", "batch", "batch_end")
_REOPEN = Script("batch_reopen")
_ACK_SUCCEEDED = Script("helpers", "batch", "ack_succeeded")

#: Successes to record with the acknowledgement of their message: delivery tag -> (batch id, job id).
#: The worker's request (``conveyor.jobs.worker_lost``) adds one just before it acknowledges a batch
#: job that returned; the acknowledgement (``conveyor.broker.fetch.acks``) takes it, in the same thread.
_SUCCEEDED_AT_ACK: dict[str, tuple[str, str]] = {}


def succeeded_at_ack(tag: str, batch_id: str, job_id: str) -> None:
    """The acknowledgement of ``tag`` records its job's success in ``batch_id`` (one script, one round trip)."""
    _SUCCEEDED_AT_ACK[tag] = (batch_id, job_id)


def take_succeeded_at_ack(tag: str) -> tuple[str, str] | None:
    """The success to record with the acknowledgement of ``tag``, if any (taken: recorded once)."""
    return _SUCCEEDED_AT_ACK.pop(tag, None)


def ack_succeeded(client: Any, ack_keys: list[str], tag: str, batch_id: str, job_id: str) -> bool:
    """``lua/ack.lua`` and the job's success in its batch, in one script; True if this owner acknowledged it."""
    key = batch_key(batch_id)
    args = [tag, batch_id, BATCH_PREFIX, time.time(), BATCH_TTL_S, WAKE_PREFIX, WAKE_CAP, job_id]
    return bool(_ACK_SUCCEEDED(client, [*ack_keys, key], args))


def check_batch_id(batch_id: Any) -> str:
    """``batch_id`` if it is a batch id (a UUID's text); a ``ValueError`` naming it otherwise.

    Ids come from the CLI and from forms: a key is never built from anything else.
    """
    if not isinstance(batch_id, str) or not _ID.fullmatch(batch_id):
        raise ValueError(f"{batch_id!r} is not a batch id (a UUID such as 3f2c1a9e-…)")
    return batch_id


def batch_key(batch_id: str) -> str:
    """The batch's hash; its pending set is ``batch_key(id) + ":pending"``, its ended members ``+ ":jobs"``."""
    return BATCH_PREFIX + batch_id


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


@dataclass(frozen=True, slots=True)
class BatchState:
    """A batch as Redis holds it: what ``Batch.status`` shows."""

    id: str
    description: str
    properties: dict[str, Any]
    parent: str | None
    created_at: float
    finished_at: float | None
    sealed: bool
    open_blocks: int
    cancelled: bool
    total: int
    pending: int
    retrying: int
    succeeded: int
    discarded: int
    dead: int
    children: int
    callbacks: tuple[str, ...] = ()
    fired: dict[str, float] = field(default_factory=dict)

    @property
    def finished(self) -> bool:
        """Every member ended (succeeded, discarded or dead) and the batch is sealed."""
        return self.finished_at is not None

    @property
    def state(self) -> str:
        """open (a jobs() block is open), running, finished, or cancelled."""
        if self.finished:
            return "finished"
        if self.cancelled:
            return "cancelled"
        return "open" if self.open_blocks or not self.sealed else "running"

    @classmethod
    def parse(cls, batch_id: str, raw: dict[Any, Any]) -> BatchState:
        fields = {_text(key): _text(value) for key, value in raw.items()}

        def number(name: str) -> int:
            return int(fields.get(name) or 0)

        try:
            properties = json.loads(fields.get("properties") or "{}")
        except ValueError:
            properties = {}
        finished = fields.get("finished_at")
        return cls(
            id=batch_id,
            description=fields.get("description", ""),
            properties=properties if isinstance(properties, dict) else {},
            parent=fields.get("parent") or None,
            created_at=float(fields.get("created_at") or 0),
            finished_at=float(finished) if finished else None,
            sealed=fields.get("sealed") == "1",
            open_blocks=number("opens"),
            cancelled=fields.get("cancelled") == "1",
            total=number("total"),
            pending=number("pending"),
            retrying=number("retrying"),
            # Not stored: what neither is pending nor ended otherwise (one counter less per job's end).
            succeeded=number("total") - number("pending") - number("discarded") - number("dead"),
            discarded=number("discarded"),
            dead=number("dead"),
            children=number("children"),
            callbacks=tuple(event for event in EVENTS if f"cb:{event}" in fields),
            fired={event: float(fields[f"fired:{event}"]) for event in EVENTS if f"fired:{event}" in fields},
        )


class RedisBatchStore:
    """The batches on one Redis (each method one script or one read)."""

    in_memory = False

    def __init__(self, client: Any, ttl: int = BATCH_TTL_S, max_jobs: int = BATCH_MAX_JOBS) -> None:
        self.client, self.ttl, self.max_jobs = client, ttl, max_jobs

    def _settle_args(self, batch_id: str) -> list[Any]:
        return [batch_id, BATCH_PREFIX, time.time(), self.ttl, WAKE_PREFIX, WAKE_CAP]

    def open(
        self,
        batch_id: str,
        *,
        description: str,
        properties: str,
        parent: str | None,
        callbacks: dict[str, tuple[str, str]],
        must_exist: bool = False,
    ) -> bool:
        """Open a ``jobs()`` block (creating the batch, as a member of ``parent``); True if it was created."""
        key = batch_key(batch_id)
        keys = [key, key + ":jobs", BATCHES_KEY]
        if parent:
            keys += [batch_key(parent), batch_key(parent) + ":pending", batch_key(parent) + ":jobs"]
        pairs = [
            part
            for event, (queue_list, envelope) in callbacks.items()
            for part in (event, json.dumps([queue_list, envelope]))
        ]
        args = [
            batch_id,
            time.time(),
            self.ttl,
            BATCH_INDEX_MAX,
            description,
            properties,
            parent or "",
            int(must_exist),
        ]
        try:
            return bool(_OPEN(self.client, keys, [*args, *pairs]))
        except Exception as exc:
            if "no such batch" in str(exc):
                raise UnknownBatchError(f"batch {batch_id} is gone: its keys expired") from exc
            raise

    def set_callback(self, batch_id: str, event: str, target: tuple[str, str]) -> None:
        """Declare a callback on a batch already in Redis (``Batch.on`` after its first ``jobs()``)."""
        key = batch_key(batch_id)
        with self.client.pipeline(transaction=True) as pipe:  # never a hash without its TTL
            pipe.exists(key)
            pipe.hset(key, f"cb:{event}", json.dumps(list(target)))
            pipe.expire(key, self.ttl)
            exists, *_ = pipe.execute()
        if not exists:
            self.client.delete(key)
            raise UnknownBatchError(f"batch {batch_id} is gone: its keys expired")

    def close(self, batch_id: str) -> int:
        """Close a ``jobs()`` block: sealed, and complete if nothing is pending; the blocks still open."""
        return int(_CLOSE(self.client, [batch_key(batch_id)], self._settle_args(batch_id)))

    def add(self, batch_id: str, job_ids: Sequence[str]) -> int:
        """Register ``job_ids`` as pending members, before they are sent; how many were new."""
        key = batch_key(batch_id)
        try:
            return int(_ADD(self.client, [key, key + ":pending"], [self.ttl, self.max_jobs, " ".join(job_ids)]))
        except Exception as exc:
            if "no such batch" in str(exc):
                raise UnknownBatchError(f"batch {batch_id} is gone: its keys expired") from exc
            raise

    def forget(self, batch_id: str, job_ids: Sequence[str]) -> int:
        """Take back members that were registered but not sent; how many were still pending."""
        key = batch_key(batch_id)
        return int(_FORGET(self.client, [key, key + ":pending"], [*self._settle_args(batch_id), " ".join(job_ids)]))

    def end(self, batch_id: str, member: str, outcome: str) -> bool:
        """Record a member's end (``SUCCEEDED``, ``DISCARDED``, ``DEAD``; or ``RETRYING``); False if nothing changed."""
        return bool(_END(self.client, [batch_key(batch_id)], [*self._settle_args(batch_id), member, outcome]))

    def reopen(self, batch_id: str, members: Iterable[str]) -> int:
        """Dead members pending again (their jobs were sent again); how many."""
        key = batch_key(batch_id)
        return int(_REOPEN(self.client, [key, key + ":jobs", key + ":pending"], [self.ttl, *members]))

    def cancel(self, batch_id: str) -> bool:
        """Mark the batch cancelled (its jobs read it); False if there is no such batch."""
        key = batch_key(batch_id)
        if not self.client.exists(key):
            return False
        self.client.hset(key, "cancelled", 1)
        return True

    def cancelled(self, batch_id: str) -> bool:
        """Whether the batch was cancelled (one ``HGET``)."""
        return self.client.hget(batch_key(batch_id), "cancelled") in (b"1", "1")

    def state(self, batch_id: str) -> BatchState:
        """The batch's description and counters; ``UnknownBatchError`` if it is gone."""
        raw = self.client.hgetall(batch_key(batch_id))
        if not raw:
            raise UnknownBatchError(
                f"no batch {batch_id}: it was never created, or its keys expired ({self.ttl // 86400} days "
                "after its last change)"
            )
        return BatchState.parse(batch_id, raw)

    def members(self, batch_id: str, state: str | None = None, limit: int = 1000) -> dict[str, list[str]]:
        """Up to ``limit`` members per state (all states, or one), in the hash's order."""
        found: dict[str, list[str]] = {name: [] for name in STATES}
        key = batch_key(batch_id)
        if state in (None, PENDING):  # the pending set (retrying ones included)
            for member in self.client.sscan_iter(key + ":pending", count=1000):
                if len(found[PENDING]) >= limit:
                    break
                found[PENDING].append(_text(member))
        if state == PENDING:
            return found
        cursor = 0
        while True:  # the members that failed once or ended
            cursor, chunk = self.client.hscan(key + ":jobs", cursor, count=1000)
            for member, value in chunk.items():
                code = _text(value)
                if code != PENDING and code in found and (state is None or code == state) and len(found[code]) < limit:
                    found[code].append(_text(member))
            if cursor == 0:
                return found

    def ids(self, limit: int = 50, offset: int = 0) -> list[str]:
        """Batch ids, newest first (the index keeps the last TTL's, at most ``BATCH_INDEX_MAX``)."""
        return [_text(value) for value in self.client.zrevrange(BATCHES_KEY, offset, offset + limit - 1)]

    def count(self) -> int:
        """How many batches the index holds."""
        return int(self.client.zcard(BATCHES_KEY))
