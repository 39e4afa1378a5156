"""Who is running what: the super fetch's owners and the jobs they hold (``jobs busy``, ``jobs workers``, Flower).

Read from Redis alone, so it shows every worker of every machine on the broker, and a dead
worker until its jobs have been recovered. A held job has been claimed by its worker and not
acknowledged yet: with ``worker_prefetch_multiplier = 1`` and late acknowledgement, that is a
job running or about to (``since`` is when it was claimed).

Example::

    for job in busy(client):
        print(job.host, job.pid, job.job_class, job.job_id, f"{job.runtime_s:.0f} s")
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from conveyor.broker.fetch.owners import UNACKED_KEYS, heartbeat_key, held_key
from conveyor.keys import OWNERS_KEY

__all__ = ["BusyJob", "WorkerOwner", "busy", "workers"]


@dataclass(frozen=True)
class WorkerOwner:
    """One consuming worker process (a super-fetch owner), alive or found dead."""

    id: str
    host: str
    pid: int | None
    queues: list[str]
    started_at: float | None
    last_beat: float
    alive: bool
    holding: int


@dataclass(frozen=True)
class BusyJob:
    """A job a worker holds: claimed, not acknowledged."""

    owner: str
    host: str
    pid: int | None
    job_class: str
    task: str
    job_id: str
    queue: str
    since: float | None
    runtime_s: float | None


def workers(client: Any) -> list[WorkerOwner]:
    """Every registered owner, most recent heartbeat first (two round trips)."""
    owners = [(o.decode(), float(score)) for o, score in client.zrevrange(OWNERS_KEY, 0, -1, withscores=True)]
    with client.pipeline(transaction=False) as pipe:
        for owner, _ in owners:
            pipe.get(heartbeat_key(owner))
            pipe.scard(held_key(owner))
        replies = pipe.execute()
    found = []
    for (owner, last_beat), beat, holding in zip(owners, replies[::2], replies[1::2], strict=True):
        info = _json_object(beat)
        pid = info.get("pid")
        found.append(
            WorkerOwner(
                id=owner,
                host=str(info.get("host") or "?"),
                pid=pid if isinstance(pid, int) else None,
                queues=[str(q) for q in info.get("queues") or []],
                started_at=_number(info.get("started_at")),
                last_beat=last_beat,
                alive=beat is not None,
                holding=int(holding),
            )
        )
    return found


def busy(client: Any, unacked: tuple[str, str] = UNACKED_KEYS, now: float | None = None) -> list[BusyJob]:
    """The jobs every owner holds, longest-running first."""
    now = time.time() if now is None else now
    jobs = []
    for owner in workers(client):
        tags = sorted(client.smembers(held_key(owner.id)))
        if not tags:
            continue
        with client.pipeline(transaction=False) as pipe:
            pipe.hmget(unacked[0], tags)
            for tag in tags:
                pipe.zscore(unacked[1], tag)  # not ZMSCORE: Redis 6.2+ only
            values, *scores = pipe.execute()
        for tag, value, score in zip(tags, values, scores, strict=True):
            message = _json_list(value)
            headers = message[0].get("headers") if message and isinstance(message[0], dict) else None
            headers = headers if isinstance(headers, dict) else {}
            task = str(headers.get("task") or "?")
            jobs.append(
                BusyJob(
                    owner=owner.id,
                    host=owner.host,
                    pid=owner.pid,
                    job_class=task.rpartition(".")[2],
                    task=task,
                    job_id=str(headers.get("id") or tag.decode()),
                    queue=str(message[2]) if len(message) > 2 else "?",
                    since=score,
                    runtime_s=None if score is None else max(0.0, now - score),
                )
            )
    return sorted(jobs, key=lambda job: job.since or now)


def _json_object(raw: bytes | None) -> dict[str, Any]:
    try:
        value = json.loads(raw) if raw else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _json_list(raw: bytes | None) -> list[Any]:
    try:
        value = json.loads(raw) if raw else []
    except ValueError:
        return []
    return value if isinstance(value, list) else []


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
