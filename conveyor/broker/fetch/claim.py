"""What a claim accepts: the claim script, and its mirror in Python for messages read otherwise.

The claim script takes a message from the first non-empty queue list, checks it is a kombu
envelope, and records it as unacknowledged and held by its owner (``conveyor.broker.fetch.owners``)
in one atomic step; ``parse_envelope`` applies the same checks to an entry read by ``RPOP``
(``basic_get``) so that a message one accepts, the other does too.

Example::

    payload = parse_envelope(raw_entry, "default")   # ValueError if it is not a kombu message
"""

from __future__ import annotations

from typing import Any

from kombu.utils.encoding import bytes_to_str
from kombu.utils.json import loads

from conveyor.broker.scripts import Script

__all__ = ["CLAIM", "NOT_A_MESSAGE", "discarded_over_limit", "parse_envelope"]

NOT_A_MESSAGE = "not a kombu message (a JSON object with a body and a properties.delivery_tag string)"

#: The claim script (lua/claim.lua: its header names KEYS and ARGV), sent as EVALSHA by reliable_fetch.
CLAIM = Script("claim", helpers=True)


def discarded_over_limit(item: bytes | str) -> str:
    """The log line for a job the claim script dropped: over a concurrency limit with on_conflict="discard"."""
    try:
        headers = loads(bytes_to_str(item)).get("headers") or {}
        limit = headers.get("conveyor_limit") or {}
        return (
            f"{headers.get('task')} (Job ID: {headers.get('id')}) discarded: {limit.get('to')} already running "
            f"for {limit.get('key')} (limits_concurrency on_conflict='discard')"
        )
    except (ValueError, AttributeError):
        return "a job over its concurrency limit was discarded"


def parse_envelope(item: bytes | str, queue: str = "") -> dict[str, Any]:
    """The kombu envelope in a Redis list entry, its routing completed; ValueError if it is not one.

    The same checks as the claim script's (a message one accepts, the other must too): a string
    body, a non-empty string delivery tag, string exchange and routing key if given. Missing
    routing is filled in (exchange "", routing key ``queue``): kombu and Celery index both.
    """
    payload = loads(bytes_to_str(item))
    properties = payload.get("properties") if isinstance(payload, dict) else None
    tag = properties.get("delivery_tag") if isinstance(properties, dict) else None
    if (
        not isinstance(properties, dict)
        or not isinstance(payload.get("body"), str)
        or not tag
        or not isinstance(tag, str)
    ):
        raise ValueError(NOT_A_MESSAGE)
    info = properties.get("delivery_info")
    if info is None or isinstance(info, list):  # the claim script reads a JSON array as a table without keys
        info = {}
    if not isinstance(info, dict):
        raise ValueError("properties.delivery_info is not an object")
    for key, default in (("exchange", ""), ("routing_key", queue)):
        if key not in info:
            info[key] = default
        elif not isinstance(info[key], str):
            raise ValueError(f"properties.delivery_info.{key} is not a string")
    properties["delivery_info"] = info
    return payload  # type: ignore[no-any-return]
