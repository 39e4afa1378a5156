"""Poison pills: jobs whose worker died MAX_WORKER_DEATHS times while running them, filed in the dead set.

The super fetch's recovery script (``conveyor.broker.fetch.owners``) sets such a message aside in
``conveyor:poisoned`` instead of requeueing it; this writes each one to the dead set with the
reason "its worker died 3 times while running it", so it is kept and can be retried once fixed.

Example::

    bury_poisoned(client)      # done by the recovering worker, and by any heartbeat that finds some
"""

from __future__ import annotations

import base64
import json
import logging
import uuid
from typing import Any

from kombu.utils.encoding import bytes_to_str

from conveyor.broker.batches import DEAD, RedisBatchStore, check_batch_id
from conveyor.broker.dead.dead_set import DeadSet
from conveyor.keys import POISONED_KEY
from conveyor.records import HEADER, dead_record

__all__ = ["bury_poisoned", "poison_reason"]

logger = logging.getLogger("conveyor.broker.fetch.poison")


def poison_reason(deaths: int) -> str:
    """The dead-set reason of a poison pill."""
    return f"its worker died {deaths} times while running it"


def bury_poisoned(client: Any, hostname: str | None = None) -> int:
    """Write the messages RECOVER set aside as poison pills to the dead set; how many.

    Each is removed from the list only after its record is written, and a record is keyed
    by job id, so two workers doing this at once, or one dying half-way, write it once.
    """
    buried = 0
    dead = DeadSet(client)
    for entry in client.lrange(POISONED_KEY, 0, 99):
        length, deaths, rest = entry.split(b" ", 2)
        source, item = bytes_to_str(rest[: int(length)]), rest[int(length) :]
        queue = source.split("\x06\x16", 1)[0]
        record = _poison_record(item, queue, int(deaths), hostname)
        dead.add(record)
        _end_in_batch(client, record)
        client.lrem(POISONED_KEY, 1, entry)
        buried += 1
    return buried


def _end_in_batch(client: Any, record: Any) -> None:
    """A poison pill of a batch is a dead job of its batch (its perform never ended to say so)."""
    header = ((record.get("message") or {}).get("headers") or {}).get(HEADER)
    batch_id = header.get("batch") if isinstance(header, dict) else None
    if not isinstance(batch_id, str):
        return
    try:
        RedisBatchStore(client).end(check_batch_id(batch_id), record["id"], DEAD)
    except ValueError:  # not a batch id: a forged header names no key
        return
    except Exception as exc:  # the dead record is written: a batch that cannot be told must not repeat it
        logger.error("conveyor: could not record poisoned job %s in batch %s: %s", record["id"], batch_id, exc)


def _poison_record(item: bytes, queue: str, deaths: int, hostname: str | None) -> Any:
    reason = poison_reason(deaths)
    try:
        payload = json.loads(item)
        headers = payload.get("headers") or {}
        properties = payload.get("properties") or {}
        body = (
            payload["body"]
            if properties.get("body_encoding") == "base64"
            else base64.b64encode(str(payload["body"]).encode()).decode()
        )
    except (ValueError, KeyError, AttributeError, TypeError):
        return dead_record(f"unparsable-{uuid.uuid4()}", reason, queue=queue, raw_entry=base64.b64encode(item).decode())
    retries = headers.get("retries")
    return dead_record(
        str(headers.get("id") or properties.get("delivery_tag")),
        reason,
        task=headers.get("task"),
        argsrepr=headers.get("argsrepr"),
        kwargsrepr=headers.get("kwargsrepr"),
        queue=queue,
        priority=properties.get("priority"),
        attempts=(retries if type(retries) is int else 0) + deaths,
        hostname=hostname,
        message={
            "body": body,
            "content_type": payload.get("content-type"),
            "content_encoding": payload.get("content-encoding"),
            "headers": headers,
        },
    )
