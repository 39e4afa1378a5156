"""Jobs waiting in the scheduled set, as an operator sees and acts on them (Scheduled and Retries).

Each entry of ``conveyor:scheduled`` is a finished message and the list it goes to
(``conveyor.broker.scheduled.scheduled_set``); here it is read as a job (class, arguments, queue, due
time) and told apart by why it waits: a **retry** (``retry_on`` waiting longer than the
scheduled threshold: the message counts earlier executions, and carries the error it is
retried for), **throttled** (over its ``@throttle`` window), or **scheduled**
(``set(wait=…)``, ``set(wait_until=…)``). An operator can run one now (it moves to its queue
in one script, whichever of the operator and the poller gets there first), delete it, or
kill it (into the dead set, from where it can be retried later).

Reads cover the whole set, in chunks: the kind and the search are applied before the page
is cut, so a retry behind 20,000 scheduled jobs is listed, and every entry can be found by
id. An action on a selection reads the set once (``find``) and acts in one script per batch,
whatever the number of ids.

Example::

    found = listing(client, kinds=("retry",), search="ImportJob")
    print(found.total, [job.id for job in found.jobs])
    run_now(client, [job.id for job in found.jobs])       # {id: True if moved}
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

from conveyor.broker.dead.dead_set import DeadSet
from conveyor.broker.scripts import Script
from conveyor.keys import DEAD_JOBS_KEY, DEAD_KEY, SCHEDULED_KEY, WAKE_CAP
from conveyor.records import dead_record

__all__ = ["Listing", "WaitingJob", "delete", "find", "kill", "listing", "run_now", "waiting"]

Kind = Literal["scheduled", "retry", "throttled"]

#: Entries read per round trip while scanning the set.
CHUNK = 2_000
#: Ids acted on per script call: a bounded script, and a bounded block of Redis.
BATCH = 500

_RUN = Script("run_waiting", helpers=True)
_REMOVE = Script("remove_waiting")
_KILL = Script("kill_waiting")


@dataclass(frozen=True)
class WaitingJob:
    """One job in the scheduled set."""

    id: str
    kind: Kind
    task: str
    job_class: str
    arguments: str
    queue: str
    due: float
    attempt: int  # the execution it waits for (1 for a job not run yet)
    attempts: int | None  # of how many its retry_on allows (None: unlimited, retry_job, or not a retry)
    error: str | None
    member: bytes  # the set's member, to act on exactly this entry

    def matches(self, text: str) -> bool:
        """Search: job class, queue, arguments, id or error contain ``text`` (case-insensitive)."""
        needle = text.lower()
        haystack = (self.job_class, self.task, self.queue, self.arguments, self.id, self.error or "")
        return any(needle in field.lower() for field in haystack)


@dataclass(frozen=True)
class Listing:
    """One page of waiting jobs, and how many match in all."""

    jobs: list[WaitingJob]
    total: int


def listing(
    client: Any, kinds: Iterable[Kind] | None = None, search: str = "", limit: int = 500, offset: int = 0
) -> Listing:
    """The ``limit`` waiting jobs from ``offset`` of ``kinds`` (all if None) matching ``search``, soonest first."""
    wanted = set(kinds) if kinds is not None else None
    jobs, total = [], 0
    for member, due in _scan(client):
        job = _read(member, due)
        if job is None or (wanted is not None and job.kind not in wanted) or (search and not job.matches(search)):
            continue
        if offset <= total < offset + limit:
            jobs.append(job)
        total += 1
    return Listing(jobs, total)


def waiting(client: Any, kind: Kind | None = None, search: str = "", limit: int = 500) -> list[WaitingJob]:
    """Up to ``limit`` waiting jobs of ``kind`` (all if None) matching ``search``, soonest first."""
    return listing(client, None if kind is None else (kind,), search, limit).jobs


def find(client: Any, job_ids: Iterable[str]) -> dict[str, WaitingJob]:
    """The waiting jobs with these ids, in one read of the set (by id; ids not waiting are left out)."""
    wanted, found = set(job_ids), {}
    for member, due in _scan(client):
        job_id = _id_of(member)
        if job_id in wanted:
            job = _read(member, due)
            if job is not None:
                found[job_id] = job
    return found


def run_now(client: Any, job_ids: str | Iterable[str]) -> Any:
    """Send waiting jobs to their queues now: ``{id: moved}``; for one id (a str), whether it moved."""
    return _act(
        client, job_ids, lambda batch: _RUN(client, [SCHEDULED_KEY], [WAKE_CAP, *(job.member for job in batch)])
    )


def delete(client: Any, job_ids: str | Iterable[str]) -> Any:
    """Remove waiting jobs (they will not run): ``{id: removed}``; for one id, whether it was removed."""
    return _act(client, job_ids, lambda batch: _REMOVE(client, [SCHEDULED_KEY], [job.member for job in batch]))


def kill(client: Any, job_ids: str | Iterable[str], who: str) -> Any:
    """Move waiting jobs to the dead set (kept, retryable from there): ``{id: killed}``; one id: a bool."""
    dead_set = DeadSet(client)

    def batch_kill(batch: list[WaitingJob]) -> Any:
        now, args = time.time(), []
        for job in batch:
            args += [job.member, job.id, dead_set.encode(_dead_record(job, who), now)]
        flags = _KILL(client, [SCHEDULED_KEY, DEAD_KEY, DEAD_JOBS_KEY], [now, *args])
        dead_set.trim(now)
        return flags

    return _act(client, job_ids, batch_kill)


def _act(client: Any, job_ids: str | Iterable[str], do: Any) -> Any:
    one = isinstance(job_ids, str)
    ids = [job_ids] if isinstance(job_ids, str) else list(dict.fromkeys(job_ids))
    jobs = find(client, ids)
    done = dict.fromkeys(ids, False)
    selected = [job_id for job_id in ids if job_id in jobs]
    for start in range(0, len(selected), BATCH):
        batch = selected[start : start + BATCH]
        for job_id, flag in zip(batch, do([jobs[job_id] for job_id in batch]), strict=True):
            done[job_id] = bool(flag)
    return done[ids[0]] if one else done


def _dead_record(job: WaitingJob, who: str) -> Any:
    message = json.loads(_entry(job.member)["message"])
    properties = message.get("properties") or {}
    body = message["body"]
    if properties.get("body_encoding") != "base64":  # the dead set keeps bodies base64, as kombu sends them
        body = base64.b64encode(str(body).encode()).decode()
    return dead_record(
        job.id,
        f"killed while waiting ({job.kind}) by {who}",
        error=job.error,
        task=job.task,
        queue=job.queue,
        argsrepr=job.arguments,
        attempts=job.attempt,
        priority=properties.get("priority"),
        message={
            "body": body,
            "content_type": message.get("content-type"),
            "content_encoding": message.get("content-encoding"),
            "headers": message.get("headers") or {},
        },
    )


def _scan(client: Any) -> Iterator[tuple[bytes, float]]:
    """Every entry of the set with its due time, soonest first, ``CHUNK`` per round trip."""
    start = 0
    while True:
        chunk = client.zrange(SCHEDULED_KEY, start, start + CHUNK - 1, withscores=True)
        for member, due in chunk:
            yield member, float(due)
        if len(chunk) < CHUNK:
            return
        start += CHUNK


def _id_of(member: bytes) -> str | None:
    """The job id of an entry: conveyor writes it beside the message; a throttled entry has it in the message."""
    try:
        entry = _entry(member)
        if isinstance(entry.get("id"), str):
            return str(entry["id"])
        headers = json.loads(entry["message"]).get("headers") or {}
        return str(headers.get("id"))
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


def _retry_on_attempt(value: Any) -> tuple[int, int | None] | None:
    # [the retry_on attempt it waits for, of how many or null] (conveyor.records.job_header): counted per
    # declaration, as retry_on counts, where Celery's retries count every execution.
    if not (isinstance(value, list) and len(value) == 2 and type(value[0]) is int):
        return None
    return (value[0], value[1] if type(value[1]) is int else None)


def _entry(member: bytes) -> dict[str, Any]:
    value = json.loads(member)
    return value if isinstance(value, dict) else {}


def _read(member: bytes, due: float) -> WaitingJob | None:
    try:
        entry = _entry(member)
        message = json.loads(entry["message"])
        headers = message.get("headers") or {}
        meta: dict[str, Any] = headers["conveyor"] if isinstance(headers.get("conveyor"), dict) else {}
    except (ValueError, KeyError, TypeError, AttributeError):
        return None  # malformed: the poller sets it aside into the dead set
    retries: int = headers["retries"] if type(headers.get("retries")) is int else 0
    error = meta.get("error") if isinstance(meta.get("error"), str) else None
    kind: Kind = "throttled" if entry.get("reason") == "throttled" else "retry" if retries or error else "scheduled"
    task = str(headers.get("task") or "?")
    attempt = _retry_on_attempt(meta.get("attempt"))
    return WaitingJob(
        id=str(headers.get("id") or entry.get("id") or "?"),
        kind=kind,
        task=task,
        job_class=task.rpartition(".")[2],
        arguments=str(headers.get("argsrepr") or ""),
        queue=str(meta.get("queue") or entry.get("key") or "?"),
        due=due,
        attempt=attempt[0] if attempt else retries + 1,
        attempts=attempt[1] if attempt else None,
        error=error,
        member=member,
    )
