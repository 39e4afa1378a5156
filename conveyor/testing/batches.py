"""Batches in a test's memory: the test adapter's ``batches``, the same rules as ``lua/batch*.lua``.

Under the test adapter a batch's jobs are recorded in ``enqueued_jobs``; ``perform_all()`` runs
them, records each end here, and runs the callbacks their outcome calls for (a callback is
enqueued like any job, so it appears in ``enqueued_jobs`` and runs in the same ``perform_all``).
``tests/conveyor/testing/test_batches.py`` runs the same scenarios here and on Redis.

Example::

    with use_adapter(TestAdapter()) as adapter:
        with batch.jobs():
            ImportRowJob.perform_later(1)
        adapter.batches.state(batch.id).pending    # 1
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from conveyor.broker.batches import (
    CHILD_PREFIX,
    DEAD,
    PENDING,
    RETRYING,
    STATES,
    SUCCEEDED,
    BatchState,
)
from conveyor.errors import UnknownBatchError

__all__ = ["MemoryBatchStore"]

_COUNTER = {PENDING: "pending", RETRYING: "retrying", SUCCEEDED: "succeeded", "x": "discarded", DEAD: "dead"}


@dataclass
class _Batch:
    fields: dict[str, Any]
    members: dict[str, str] = field(default_factory=dict)
    callbacks: dict[str, Any] = field(default_factory=dict)
    fired: dict[str, float] = field(default_factory=dict)


class MemoryBatchStore:
    """``conveyor.broker.batches.RedisBatchStore``'s methods on dicts, for the test adapter."""

    in_memory = True

    def __init__(self) -> None:
        self._batches: dict[str, _Batch] = {}
        self._lock = threading.RLock()
        self._due: list[Any] = []  # callbacks to enqueue once the lock is released

    def _get(self, batch_id: str) -> _Batch:
        batch = self._batches.get(batch_id)
        if batch is None:
            raise UnknownBatchError(f"no batch {batch_id}: it was never created in this test")
        return batch

    def _enqueue_due(self) -> None:
        # As the Redis script pushes its message: in no batch, held by no transaction, no enqueue callbacks.
        from conveyor.jobs.app_lookup import current_app
        from conveyor.settings import settings_for

        due, self._due = self._due, []
        app = current_app()
        for job in due:
            job._resolve_options(job._options, settings_for(app))
            job._publish(app, defer=False)

    def open(
        self,
        batch_id: str,
        *,
        description: str,
        properties: str,
        parent: str | None,
        callbacks: dict[str, Any],
        must_exist: bool = False,
    ) -> bool:
        with self._lock:
            batch, created = self._batches.get(batch_id), False
            if batch is None:
                if must_exist:
                    raise UnknownBatchError(f"batch {batch_id} is gone")
                counters = dict.fromkeys(
                    ("total", "pending", "retrying", "succeeded", "discarded", "dead", "children"), 0
                )
                batch = self._batches[batch_id] = _Batch(
                    {
                        "description": description,
                        "properties": properties,
                        "created_at": time.time(),
                        "parent": parent or "",
                        "sealed": False,
                        "opens": 0,
                        "cancelled": False,
                        "finished_at": None,
                        **counters,
                    }
                )
                owner = self._batches.get(parent) if parent else None
                # a parent that is gone is ignored, as by the script
                if owner is not None and owner.members.setdefault(CHILD_PREFIX + batch_id, PENDING) == PENDING:
                    for name in ("total", "pending", "children"):
                        owner.fields[name] += 1
                    owner.fields["finished_at"] = None
                created = True
            for event, target in callbacks.items():
                batch.callbacks.setdefault(event, target)
            batch.fields["opens"] += 1
            return created

    def set_callback(self, batch_id: str, event: str, target: Any) -> None:
        with self._lock:
            self._get(batch_id).callbacks[event] = target

    def close(self, batch_id: str) -> int:
        with self._lock:
            batch = self._batches.get(batch_id)
            if batch is None:
                return -1
            batch.fields["opens"] = max(0, batch.fields["opens"] - 1)
            batch.fields["sealed"] = True
            self._settle(batch_id)
            opens: int = batch.fields["opens"]
        self._enqueue_due()
        return opens

    def add(self, batch_id: str, job_ids: Sequence[str]) -> int:
        with self._lock:
            batch = self._get(batch_id)
            added = 0
            for job_id in job_ids:
                if job_id not in batch.members:
                    batch.members[job_id] = PENDING
                    added += 1
            if added:
                batch.fields["total"] += added
                batch.fields["pending"] += added
                batch.fields["finished_at"] = None
            return added

    def forget(self, batch_id: str, job_ids: Sequence[str]) -> int:
        with self._lock:
            batch = self._get(batch_id)
            forgotten = [job_id for job_id in job_ids if batch.members.get(job_id) == PENDING]
            for job_id in forgotten:
                del batch.members[job_id]
            if forgotten:
                batch.fields["total"] -= len(forgotten)
                batch.fields["pending"] -= len(forgotten)
                self._settle(batch_id)
        self._enqueue_due()
        return len(forgotten)

    def end(self, batch_id: str, member: str, outcome: str) -> bool:
        with self._lock:
            if batch_id not in self._batches:
                return False
            ended = self._end_member(batch_id, member, outcome)
            if ended:
                self._settle(batch_id)
        self._enqueue_due()
        return ended

    def reopen(self, batch_id: str, members: Iterable[str]) -> int:
        with self._lock:
            batch = self._get(batch_id)
            reopened = [member for member in members if batch.members.get(member) == DEAD]
            for member in reopened:
                batch.members[member] = PENDING
            if reopened:
                batch.fields["dead"] -= len(reopened)
                batch.fields["pending"] += len(reopened)
                batch.fields["finished_at"] = None
            return len(reopened)

    def cancel(self, batch_id: str) -> bool:
        with self._lock:
            if batch_id not in self._batches:
                return False
            self._batches[batch_id].fields["cancelled"] = True
            return True

    def cancelled(self, batch_id: str) -> bool:
        batch = self._batches.get(batch_id)
        return batch is not None and bool(batch.fields["cancelled"])

    def state(self, batch_id: str) -> BatchState:
        with self._lock:
            batch = self._get(batch_id)
            f = batch.fields
            raw = {
                "description": f["description"],
                "properties": f["properties"],
                "created_at": f["created_at"],
                "parent": f["parent"],
                "sealed": int(f["sealed"]),
                "opens": f["opens"],
                "cancelled": int(f["cancelled"]),
                **{name: f[name] for name in _COUNTER.values()},
                "total": f["total"],
                "children": f["children"],
                **({"finished_at": f["finished_at"]} if f["finished_at"] is not None else {}),
                **{f"cb:{event}": "" for event in batch.callbacks},
                **{f"fired:{event}": at for event, at in batch.fired.items()},
            }
            return BatchState.parse(batch_id, {key: str(value) for key, value in raw.items()})

    def members(self, batch_id: str, state: str | None = None, limit: int = 1000) -> dict[str, list[str]]:
        with self._lock:
            found: dict[str, list[str]] = {code: [] for code in STATES}
            for member, code in self._get(batch_id).members.items():
                if (state is None or code == state) and len(found[code]) < limit:
                    found[code].append(member)
            return found

    def ids(self, limit: int = 50, offset: int = 0) -> list[str]:
        ordered = sorted(self._batches, key=lambda batch_id: -self._batches[batch_id].fields["created_at"])
        return ordered[offset : offset + limit]

    def count(self) -> int:
        return len(self._batches)

    # --- the rules of lua/batch.lua -----------------------------------------------------------

    def _fire(self, batch: _Batch, event: str) -> None:
        if event in batch.callbacks and event not in batch.fired:
            batch.fired[event] = time.time()
            self._due.append(batch.callbacks[event])

    def _end_member(self, batch_id: str, member: str, outcome: str) -> bool:
        batch = self._batches[batch_id]
        state = batch.members.get(member)
        if state is None or state in (SUCCEEDED, "x") or state == outcome:
            return False
        if outcome == RETRYING:
            if state == PENDING:
                batch.members[member] = RETRYING
                batch.fields["retrying"] += 1
            return False
        batch.members[member] = outcome
        if state == DEAD:
            batch.fields["dead"] -= 1
        else:
            batch.fields["pending"] -= 1
            if state == RETRYING:
                batch.fields["retrying"] -= 1
        batch.fields[_COUNTER[outcome]] += 1
        if outcome != SUCCEEDED:
            self._fire(batch, "discard")
        return True

    def _settle(self, batch_id: str) -> None:
        while batch_id:
            batch = self._batches.get(batch_id)
            if batch is None:
                return
            f = batch.fields
            if not f["sealed"] or f["opens"] > 0 or f["pending"] > 0:
                return
            if f["finished_at"] is None:
                f["finished_at"] = time.time()
                self._fire(batch, "finish")
            failed = f["dead"] + f["discarded"] > 0
            if not failed and not f["cancelled"]:
                self._fire(batch, "success")
            parent = f["parent"]
            if not parent or parent not in self._batches:
                return
            outcome = DEAD if failed else ("x" if f["cancelled"] else SUCCEEDED)
            if not self._end_member(parent, CHILD_PREFIX + batch_id, outcome):
                return
            batch_id = parent
