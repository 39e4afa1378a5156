"""kombu's Redis transport with a reliable fetch, and with unparsable entries buried, not fatal.

**Reliable fetch.** kombu takes a message with ``BRPOP`` and records it as
unacknowledged (``unacked`` hash) afterwards, in a second command: a worker killed
between the two (``kill -9``, OOM, a lost machine) has taken the message out of Redis
and recorded it nowhere, so it is lost (seen in the fault-injection suite: one job in
about four runs of "kill -9 two of four workers"). Here a Lua script takes the message
*and* records it as unacknowledged in one atomic step, scanning the queue keys in
kombu's fetch order (queue order and priority steps, as ``BRPOP`` would). Lua cannot
block, so an idle worker waits with ``BLPOP`` on wake-up lists
(``conveyor:wake:<queue>``, capped at 1,000 tokens) that this transport pushes to with
every message it sends, and claims again when woken, or after 1 s at the latest
(messages sent by other producers, or restored by kombu, wait at most that long).
With ``global_keyprefix`` set, kombu's own ``BRPOP`` fetch is used.

**Connection loss.** A broker connection lost while a worker holds unacknowledged
messages can make kombu raise out of the channel's close (``QoS.restore_unacked``) and
Celery stop the worker; here that is logged and the messages come back after the
visibility timeout, and the worker reconnects.

**Unparsable entries.** kombu parses each message it pops as JSON before Celery sees it;
a list entry that is not a kombu envelope (garbage pushed by hand, a truncated write,
another program's data) raises out of the consumer and the worker exits with
"Unrecoverable error". Here such an entry is logged, kept raw in the dead set
(``conveyor.broker.dead_set``), and the worker goes on.

``conveyor.configure`` makes this the transport kombu uses for ``redis://`` and
``rediss://`` URLs (kombu's transport aliases), so URLs, Flower's broker page and
``driver_type`` stay Redis'.

Example::

    install()   # done by conveyor.configure for a Redis broker
"""

from __future__ import annotations

import base64
import logging
import time
import uuid
from queue import Empty
from typing import Any

import redis
from kombu.transport import redis as kombu_redis
from kombu.utils.encoding import bytes_to_str
from kombu.utils.json import dumps, loads

from conveyor.broker.dead_set import DeadSet
from conveyor.compat import kombu as kombu_compat
from conveyor.compat import require_attributes
from conveyor.wire import WAKE_CAP, WAKE_PREFIX, dead_record, wake_key

__all__ = ["WAKE_PREFIX", "Channel", "QoS", "Transport", "install", "parse_envelope", "wake_key"]

logger = logging.getLogger("conveyor.broker.reliable_fetch")

#: The longest an idle worker waits before it claims again without a wake-up.
WAIT_TIMEOUT_S = 1.0

# Take the first message of the queue keys (KEYS[3..], in fetch order) and record it as
# unacknowledged as kombu's QoS.append does (unacked hash + index), atomically. A value that
# is not a kombu envelope is returned with a third element and not recorded (it is buried).
_CLAIM = """
for i = 3, #KEYS do
  local item = redis.call('RPOP', KEYS[i])
  if item then
    -- Everything is checked before anything is written: an error after the RPOP would lose the item
    -- (a script is not rolled back), so anything unexpected is returned to be buried instead.
    local ok, message = pcall(cjson.decode, item)
    local properties = ok and type(message) == 'table' and message['properties']
    local tag = type(properties) == 'table' and properties['delivery_tag']
    local delivery = type(properties) == 'table' and properties['delivery_info']
    if delivery == nil then delivery = {} end
    if type(tag) ~= 'string' or tag == '' or type(message['body']) ~= 'string' or type(delivery) ~= 'table'
        or (delivery['exchange'] ~= nil and type(delivery['exchange']) ~= 'string')
        or (delivery['routing_key'] ~= nil and type(delivery['routing_key']) ~= 'string') then
      return {KEYS[i], item, 'bad'}
    end
    -- A message missing its routing goes back to the queue it came from (the key without its priority suffix).
    local queue = (string.gsub(KEYS[i], '\\6\\22.*$', ''))
    redis.call('ZADD', KEYS[2], ARGV[1], tag)
    redis.call('HSET', KEYS[1], tag, '[' .. item .. ',' .. cjson.encode(delivery['exchange'] or '') .. ','
      .. cjson.encode(delivery['routing_key'] or queue) .. ']')
    return {KEYS[i], item, 'ok', tag}
  end
end
return false
"""


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
        raise ValueError("not a kombu message (a JSON object with a body and a properties.delivery_tag string)")
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


class QoS(kombu_redis.QoS):  # type: ignore[misc]
    def restore_unacked(self, client: Any = None) -> Any:
        # kombu hands unacknowledged messages back when a channel closes. After a broker
        # connection loss it closes the channel once the connection is already released, and
        # this raises AttributeError ('NoneType' object has no attribute 'hostname'), which
        # Celery treats as unrecoverable: the worker exits (seen in the suite's Redis restart).
        # The messages are still in Redis' unacked set, and any worker restores them after
        # the visibility timeout; nothing is lost by not handing them back here.
        try:
            return super().restore_unacked(client)
        except (AttributeError, redis.ConnectionError, redis.TimeoutError) as exc:
            logger.warning(
                "conveyor: could not hand %d unacknowledged message(s) back to their queues now (%s: %s); "
                "they stay in Redis' unacked set and return after the visibility timeout",
                len(self._delivered), type(exc).__name__, exc,
            )  # fmt: skip
            return None


class Channel(kombu_redis.Channel):  # type: ignore[misc]
    QoS = QoS

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The class-level names are checked at configure() and worker start (conveyor.compat.kombu);
        # these are set by kombu's __init__, so only a live channel shows them.
        require_attributes(self, kombu_compat.CHANNEL_INSTANCE_READS, "kombu")

    def _connparams(self, asynchronous: bool = False) -> Any:
        # A channel outlived by its connection (closed on a broker connection loss; the worker has
        # reconnected with a new one) used to raise AttributeError here, for instance when a job's
        # ack arrives late, and Celery stopped the worker. As a connection error it is logged
        # ("Couldn't ack") and the message returns after the visibility timeout.
        if self.connection is None or self.connection.client is None:
            raise redis.ConnectionError("this channel's broker connection is closed (the worker reconnected)")
        return super()._connparams(asynchronous)

    #: What the next fetch sends: "claim" (the Lua script) or "wait" (BLPOP on wake-up lists).
    _conveyor_next = "claim"
    _conveyor_sent: str | None = None

    def _brpop_start(self, timeout: Any = None) -> None:
        if self.global_keyprefix:
            return super()._brpop_start(timeout)  # type: ignore[no-any-return]
        queues = self._queue_cycle.consume(len(self.active_queues))
        if not queues:
            return None
        self._in_poll = self.client.connection
        self._brpop_sent_at = time.monotonic()  # type: ignore[assignment]  # kombu declares it None
        if self._conveyor_next == "claim":
            keys = [self._q_for_pri(queue, pri) for pri in self.priority_steps for queue in queues]
            self._conveyor_sent = "claim"
            self.client.connection.send_command(
                "EVAL", _CLAIM, len(keys) + 2, self.unacked_key, self.unacked_index_key, *keys, time.time()
            )
        else:
            wait = min(WAIT_TIMEOUT_S, float(self.brpop_timeout or WAIT_TIMEOUT_S))
            self._conveyor_sent = "wait"
            self.client.connection.send_command("BLPOP", *(wake_key(queue) for queue in queues), wait)
        return None

    def _brpop_read(self, **options: Any) -> bool:
        if self.global_keyprefix:
            return super()._brpop_read(**options)  # type: ignore[no-any-return]
        sent = self._conveyor_sent
        try:
            try:
                reply = self.client.parse_response(
                    self.client.connection, "EVAL" if sent == "claim" else "BLPOP", **options
                )
            except self.connection_errors:
                self.client.connection.disconnect()
                raise
            except redis.ResponseError as exc:  # a script error: log it, wait, try again
                logger.error("conveyor: fetching a message failed: %s", exc)
                self._conveyor_next = "wait"
                raise Empty() from None
            if sent != "claim":
                self._conveyor_next = "claim"  # woken by a token, or the wait timed out
                raise Empty()
            if not reply:
                self._conveyor_next = "wait"
                raise Empty()
            key, item = reply[0], reply[1]
            dest = bytes_to_str(key).rsplit(self.sep, 1)[0]
            self._queue_cycle.rotate(dest)
            try:
                if bytes_to_str(reply[2]) == "bad":
                    raise ValueError(
                        "not a kombu message (a JSON object with a body and a properties.delivery_tag string)"
                    )
                payload = parse_envelope(item, dest)
            except ValueError as exc:
                if bytes_to_str(reply[2]) == "ok":  # claimed, but Python cannot read it: not unacked after all
                    self._unclaim(bytes_to_str(reply[3]))
                self._bury(dest, item, exc)
                raise Empty() from None
            self.connection._deliver(payload, dest)
            return True
        finally:
            self._in_poll = None  # type: ignore[assignment]  # as kombu does
            flush = getattr(self, "_flush_brpop_reauth", None)
            if flush is not None:
                flush()

    def _put(self, queue: str, message: Any, **kwargs: Any) -> None:
        publish_batch = kwargs.get("_publish_batch")
        if self.global_keyprefix or (self._expires and queue in self._expires):
            super()._put(queue, message, **kwargs)
            if publish_batch is None:
                with self.conn_or_acquire() as client:
                    wake(client, queue)
            return
        key = self._q_for_pri(queue, self._get_message_priority(message, reverse=False))
        data = dumps(message)
        if publish_batch is not None:
            publish_batch.add("lpush", key, data)
            publish_batch.add("lpush", wake_key(queue), 1)
            publish_batch.add("ltrim", wake_key(queue), 0, WAKE_CAP - 1)
            return
        # The message and its wake-up token in one round trip.
        with self.conn_or_acquire() as client, client.pipeline(transaction=False) as pipe:
            pipe.lpush(key, data)
            wake(pipe, queue)
            pipe.execute()

    def _get(self, queue: Any, timeout: Any = None) -> Any:
        with self.conn_or_acquire() as client:
            for pri in self.priority_steps:
                item = client.rpop(self._q_for_pri(queue, pri))
                if item:
                    self._maybe_update_queues_expire(client, queue)
                    try:
                        return parse_envelope(item, queue)
                    except ValueError as exc:
                        self._bury(queue, item, exc)
                        continue
            self._maybe_update_queues_expire(client, queue)
            raise Empty()

    def _unclaim(self, tag: str) -> None:
        with self.conn_or_acquire() as client, client.pipeline(transaction=False) as pipe:
            pipe.hdel(self.unacked_key, tag)
            pipe.zrem(self.unacked_index_key, tag)
            pipe.execute()

    def _bury(self, queue: str, item: bytes | str, exc: Exception) -> None:
        raw = item if isinstance(item, bytes) else str(item).encode()
        job_id = f"unparsable-{uuid.uuid4()}"
        reason = f"unparsable message in queue {queue}: {type(exc).__name__}: {exc}"
        logger.error("conveyor: %s; kept in the dead set as %s: %r", reason, job_id, raw[:200])
        try:
            with self.conn_or_acquire() as client:
                DeadSet(client).add(dead_record(job_id, reason, queue=queue, raw_entry=base64.b64encode(raw).decode()))
        except Exception as store_exc:  # never a reason to stop consuming
            logger.error("conveyor: could not keep it in the dead set: %s", store_exc)


def wake(client: Any, queue: str, tokens: int = 1) -> None:
    """Push ``tokens`` wake-up tokens for ``queue`` (a client or a pipeline), keeping at most WAKE_CAP."""
    client.lpush(wake_key(queue), *([1] * min(tokens, WAKE_CAP)))
    client.ltrim(wake_key(queue), 0, WAKE_CAP - 1)


class Transport(kombu_redis.Transport):  # type: ignore[misc]
    Channel = Channel


def install() -> None:
    """Make kombu use this transport for redis:// and rediss:// URLs in this process."""
    for scheme in ("redis", "rediss"):
        kombu_compat.register_transport(scheme, f"{__name__}:Transport")
