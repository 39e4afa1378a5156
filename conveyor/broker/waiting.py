"""Jobs waiting in the scheduled set, as an operator sees and acts on them (Scheduled and Retries).

Each entry of ``conveyor:scheduled`` is a finished message and the list it goes to
(``conveyor.broker.scheduled_set``); here it is read as a job (class, arguments, queue, due
time) and told apart by why it waits: a **retry** (``retry_on`` waiting longer than the
scheduled threshold: the message counts earlier executions, and carries the error it is
retried for), **throttled** (over its ``@throttle`` window), or **scheduled**
(``set(wait=…)``, ``set(wait_until=…)``). An operator can run one now (it moves to its queue
in one script, whichever of the operator and the poller gets there first), delete it, or
kill it (into the dead set, from where it can be retried later).

Example::

    for job in waiting(client, kind="retry", search="ImportJob"):
        print(job.id, job.job_class, job.error, job.due)
    run_now(client, job.id)
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any, Literal

from conveyor.broker.dead_set import DeadSet
from conveyor.wire import SCHEDULED_KEY, dead_record

__all__ = ["WaitingJob", "delete", "kill", "run_now", "waiting"]

Kind = Literal["scheduled", "retry", "throttled"]

# KEYS: the scheduled set. ARGV: the member. Moves it to its list now, if it is still there.
_RUN_NOW = """
if redis.call('ZREM', KEYS[1], ARGV[1]) == 0 then return 0 end
local entry = cjson.decode(ARGV[1])
redis.call('LPUSH', entry['key'], entry['message'])
if type(entry['wake']) == 'string' then
  redis.call('LPUSH', entry['wake'], 1)
  redis.call('LTRIM', entry['wake'], 0, 999)
end
return 1
"""


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
    error: str | None
    member: bytes  # the set's member, to act on exactly this entry

    def matches(self, text: str) -> bool:
        """Search: job class, queue, arguments, id or error contain ``text`` (case-insensitive)."""
        needle = text.lower()
        haystack = (self.job_class, self.task, self.queue, self.arguments, self.id, self.error or "")
        return any(needle in field.lower() for field in haystack)


def waiting(client: Any, kind: Kind | None = None, search: str = "", limit: int = 500) -> list[WaitingJob]:
    """Up to ``limit`` waiting jobs of ``kind`` (all if None) matching ``search``, soonest first."""
    found = []
    for member, due in client.zrange(SCHEDULED_KEY, 0, 9999, withscores=True):
        job = _read(member, float(due))
        if job is None or (kind is not None and job.kind != kind) or (search and not job.matches(search)):
            continue
        found.append(job)
        if len(found) >= limit:
            break
    return found


def run_now(client: Any, job_id: str) -> bool:
    """Send the waiting job ``job_id`` to its queue now; False if it is not (or no longer) waiting."""
    job = _find(client, job_id)
    return job is not None and bool(client.eval(_RUN_NOW, 1, SCHEDULED_KEY, job.member))


def delete(client: Any, job_id: str) -> bool:
    """Remove the waiting job ``job_id`` (it will not run)."""
    job = _find(client, job_id)
    return job is not None and bool(client.zrem(SCHEDULED_KEY, job.member))


def kill(client: Any, job_id: str, who: str) -> bool:
    """Move the waiting job ``job_id`` to the dead set (kept, retryable from there)."""
    job = _find(client, job_id)
    if job is None:
        return False
    message = json.loads(_entry(job.member)["message"])
    properties = message.get("properties") or {}
    body = message["body"]
    if properties.get("body_encoding") != "base64":  # the dead set keeps bodies base64, as kombu sends them
        body = base64.b64encode(str(body).encode()).decode()
    DeadSet(client).add(dead_record(
        job.id, f"killed while waiting ({job.kind}) by {who}", error=job.error, task=job.task, queue=job.queue,
        argsrepr=job.arguments, attempts=job.attempt, priority=properties.get("priority"),
        message={"body": body, "content_type": message.get("content-type"),
                 "content_encoding": message.get("content-encoding"), "headers": message.get("headers") or {}},
    ))  # fmt: skip
    # Recorded first, removed second: a crash in between leaves it in both, never in neither.
    return bool(client.zrem(SCHEDULED_KEY, job.member))


def _find(client: Any, job_id: str) -> WaitingJob | None:
    return next((job for job in waiting(client, limit=10_000) if job.id == job_id), None)


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
    return WaitingJob(
        id=str(headers.get("id") or entry.get("id") or "?"), kind=kind, task=task, job_class=task.rpartition(".")[2],
        arguments=str(headers.get("argsrepr") or ""), queue=str(meta.get("queue") or entry.get("key") or "?"),
        due=due, attempt=retries + 1, error=error, member=member,
    )  # fmt: skip
