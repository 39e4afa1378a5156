"""kombu's Redis transport, except that a message it cannot parse is buried, not fatal.

kombu's Redis channel parses each message it pops (``BRPOP``) as JSON before Celery
sees it; a list entry that is not a kombu envelope (garbage pushed by hand, a
truncated write, another program's data in the queue) raises out of the consumer
and the worker exits with "Unrecoverable error". ``conveyor.configure`` makes
this transport the one kombu uses for ``redis://`` and ``rediss://`` URLs (kombu's
transport aliases), so URLs, Flower's broker page and ``driver_type`` stay Redis':
such an entry is logged, kept raw in the dead set (``conveyor.dead``), and the
worker goes on.

Example::

    install()   # done by conveyor.configure for a Redis broker
"""

from __future__ import annotations

import base64
import logging
import uuid
from queue import Empty
from typing import Any

from kombu.transport import redis as kombu_redis
from kombu.utils.encoding import bytes_to_str
from kombu.utils.json import loads

__all__ = ["Channel", "Transport", "install", "parse_envelope"]

logger = logging.getLogger("conveyor.transport")


def parse_envelope(item: bytes | str) -> dict[str, Any]:
    """The kombu envelope in a Redis list entry; ValueError if it is not one."""
    payload = loads(bytes_to_str(item))
    properties = payload.get("properties") if isinstance(payload, dict) else None
    if not isinstance(properties, dict) or "body" not in payload or "delivery_tag" not in properties:
        raise ValueError("not a kombu message (a JSON object with body and properties.delivery_tag)")
    if not isinstance(properties.get("delivery_info", {}), dict):
        raise ValueError("properties.delivery_info is not an object")
    return payload  # type: ignore[no-any-return]


class Channel(kombu_redis.Channel):  # type: ignore[misc]
    def _brpop_read(self, **options: Any) -> bool:
        # kombu's _brpop_read, with the parse guarded (keep in step with kombu's).
        try:
            try:
                dest__item = self.client.parse_response(self.client.connection, "BRPOP", **options)
            except self.connection_errors:
                self.client.connection.disconnect()
                raise
            if not dest__item:
                raise Empty()
            dest, item = dest__item
            dest = bytes_to_str(dest).rsplit(self.sep, 1)[0]
            self._queue_cycle.rotate(dest)
            try:
                payload = parse_envelope(item)
            except ValueError as exc:
                self._bury(dest, item, exc)
                raise Empty() from None
            self.connection._deliver(payload, dest)
            return True
        finally:
            self._in_poll = None  # type: ignore[assignment]  # as kombu does
            flush = getattr(self, "_flush_brpop_reauth", None)
            if flush is not None:
                flush()

    def _get(self, queue: Any, timeout: Any = None) -> Any:
        with self.conn_or_acquire() as client:
            for pri in self.priority_steps:
                item = client.rpop(self._q_for_pri(queue, pri))
                if item:
                    self._maybe_update_queues_expire(client, queue)
                    try:
                        return parse_envelope(item)
                    except ValueError as exc:
                        self._bury(queue, item, exc)
                        continue
            self._maybe_update_queues_expire(client, queue)
            raise Empty()

    def _bury(self, queue: str, item: bytes | str, exc: Exception) -> None:
        from conveyor.dead import DeadSet

        raw = item if isinstance(item, bytes) else str(item).encode()
        job_id = f"unparsable-{uuid.uuid4()}"
        reason = f"unparsable message in queue {queue}: {type(exc).__name__}: {exc}"
        logger.error("conveyor: %s; kept in the dead set as %s: %r", reason, job_id, raw[:200])
        try:
            with self.conn_or_acquire() as client:
                DeadSet(client).add({
                    "id": job_id, "task": None, "job_class": "?", "queue": queue, "reason": reason, "error": reason,
                    "attempts": 1, "raw_entry": base64.b64encode(raw).decode(),
                })  # fmt: skip
        except Exception as store_exc:  # never a reason to stop consuming
            logger.error("conveyor: could not keep it in the dead set: %s", store_exc)


class Transport(kombu_redis.Transport):  # type: ignore[misc]
    Channel = Channel


def install() -> None:
    """Make kombu use this transport for redis:// and rediss:// URLs in this process."""
    from kombu.transport import TRANSPORT_ALIASES

    for scheme in ("redis", "rediss"):
        TRANSPORT_ALIASES[scheme] = f"{__name__}:Transport"
