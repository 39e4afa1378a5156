"""Acknowledging, rejecting and handing back messages the super fetch claimed.

kombu's Redis QoS removes a message's unacknowledged record by delivery tag, whoever
acknowledges. With super fetch (``conveyor.broker.fetch.owners``) a message can be recovered
from a worker that stopped sending heartbeats and claimed by another; if the first one
was only paused, its late acknowledgement would delete the second one's record, and the
job would be lost if the second worker died too. Here each of the three operations is one
script that acts only if the claim record still names this channel's owner:

- ``ack``: removes the unacknowledged record, the claim and the held-set entry (one round
  trip, as kombu's pipeline);
- ``reject(requeue=True)`` and the hand-back at channel close (``restore_by_tag``): put
  the message back on the list it was claimed from, byte for byte, and wake a worker;
- a message this channel did not claim with conveyor's fetch (kombu's own ``BRPOP`` with
  ``global_keyprefix``, ``basic_get``) goes through kombu's code, except that the
  visibility-timeout sweep leaves alone a message a conveyor owner holds.

``append`` no longer writes the record kombu writes after delivery: the claim script
already did, atomically (one round trip less per message).

**A lost broker connection** (a Redis restart, a Sentinel failover dropping every client of the
old master): Celery closes the connection and starts its consumer again while its pool goes on
running the jobs it has. kombu's close hands every unacknowledged message back, and each running
job ran a second time. Here the close hands back only what Celery drops (prefetched, not yet
given to the pool); the messages of the jobs Celery still runs (``celery.worker.state``'s reserved
requests) stay claimed, the owner beats on until they are acknowledged (``Owner.linger``), and
their acknowledgements go through the owner's own connection, the channel's being gone. A worker
that is stopping hands everything back, as before.

Example::

    channel.qos.ack(tag)     # kombu calls these; nothing to call by hand
"""

from __future__ import annotations

import contextlib
import logging
from collections import deque
from collections.abc import Iterator
from typing import Any

import redis
from celery import current_app
from celery.worker import state as worker_state
from kombu.transport import redis as kombu_redis
from kombu.transport.virtual import base as kombu_virtual
from kombu.utils.encoding import bytes_to_str
from kombu.utils.json import loads

from conveyor.broker.batches import ack_succeeded, take_succeeded_at_ack
from conveyor.broker.fetch.promotion import JOURNAL_CAP
from conveyor.broker.scripts import Script
from conveyor.keys import CLAIMS_KEY, WAKE_CAP, WAKE_PREFIX

__all__ = ["QoS"]

logger = logging.getLogger("conveyor.broker.fetch.acks")

_ACK = Script("ack")
_RESTORE = Script("restore", helpers=True)


class QoS(kombu_redis.QoS):  # type: ignore[misc]
    """kombu's Redis QoS, owner-aware for the messages the super fetch claimed."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: Tags this channel claimed with the claim script and has not acknowledged yet.
        self.claimed: set[str] = set()
        #: Tags not handed back when the channel closed after a connection loss: their jobs still run.
        self.kept: set[str] = set()
        #: The last tags this channel acknowledged (conveyor.broker.fetch.promotion replays them after a failover).
        self.acknowledged: deque[str] = deque(maxlen=JOURNAL_CAP)
        #: The last tags this channel handed back to their queues: a replay must not claim them again.
        self.handed_back: deque[str] = deque(maxlen=JOURNAL_CAP)
        self._sweeping = False

    @contextlib.contextmanager
    def _client(self) -> Iterator[Any]:
        """The channel's client; once the channel is closed (its connection lost), its owner's."""
        owner = self.channel._conveyor_owner
        if self.channel.closed and owner is not None:
            yield owner.client
        else:
            with self.channel.conn_or_acquire() as client:
                yield client

    def _keys(self) -> list[str]:
        return [self.unacked_key, self.unacked_index_key, CLAIMS_KEY, self.channel.owner_held_key]

    def append(self, message: Any, delivery_tag: Any) -> None:
        if delivery_tag in self.claimed:  # recorded by the claim script already
            kombu_virtual.QoS.append(self, message, delivery_tag)
        else:
            super().append(message, delivery_tag)

    def ack(self, delivery_tag: Any) -> None:
        tag = bytes_to_str(delivery_tag)
        if tag not in self.claimed:
            return super().ack(delivery_tag)  # type: ignore[no-any-return]
        succeeded = take_succeeded_at_ack(tag)  # a batch job that returned: its success in the same script
        with self._client() as client:
            if succeeded is not None:
                acked = ack_succeeded(client, self._keys(), tag, *succeeded)
            else:
                acked = bool(_ACK(client, self._keys(), [tag]))
            if not acked:
                logger.warning(
                    "conveyor: acknowledgement of %s came after its job was recovered from this worker "
                    "(it stopped sending heartbeats for a while): the job runs, or ran, again elsewhere",
                    tag,
                )
        self.claimed.discard(tag)
        self.acknowledged.append(tag)
        kombu_virtual.QoS.ack(self, delivery_tag)
        return None

    def reject(self, delivery_tag: Any, requeue: bool = False) -> None:
        tag = bytes_to_str(delivery_tag)
        if tag not in self.claimed:
            return super().reject(delivery_tag, requeue)  # type: ignore[no-any-return]
        if requeue:
            self.restore_by_tag(tag, leftmost=True)
            kombu_virtual.QoS.ack(self, delivery_tag)
            return None
        return self.ack(delivery_tag)

    def restore_visible(self, *args: Any, **kwargs: Any) -> Any:
        # kombu's visibility sweep calls restore_by_tag for every message held longer than the
        # visibility timeout, this channel's own included: those must stay where they are.
        self._sweeping = True
        try:
            return super().restore_visible(*args, **kwargs)
        finally:
            self._sweeping = False

    def restore_by_tag(self, tag: Any, client: Any = None, leftmost: bool = False) -> None:
        tag = bytes_to_str(tag)
        if self._sweeping or tag not in self.claimed:
            return self._restore_unowned(tag, client, leftmost)
        with contextlib.nullcontext(client) if client is not None else self._client() as client:
            args = [tag, self.channel.owner_id, int(leftmost), WAKE_PREFIX, WAKE_CAP]
            done = _RESTORE(client, self._keys(), args)
        self.claimed.discard(tag)
        self.handed_back.append(tag)
        if done == -1:
            self._restore_unowned(tag, client, leftmost)
        return None

    def _restore_unowned(self, tag: str, client: Any, leftmost: bool) -> None:
        # kombu's restore_by_tag, except that a message a conveyor owner holds is left alone: the
        # visibility sweep calls this for every old enough message, and a live owner's job must
        # not run twice however long it runs (a dead owner's is recovered by conveyor.broker.fetch.owners).
        def restore_transaction(pipe: Any) -> None:
            if pipe.hexists(CLAIMS_KEY, tag):
                return
            raw = pipe.hget(self.unacked_key, tag)
            pipe.multi()
            self._remove_from_indices(tag, pipe)
            if raw:
                message, exchange, routing_key = loads(bytes_to_str(raw))
                self.channel._do_restore_message(message, exchange, routing_key, pipe, leftmost)

        with self.channel.conn_or_acquire(client) as client:
            client.transaction(restore_transaction, self.unacked_key, CLAIMS_KEY)

    def restore_unacked(self, client: Any = None) -> Any:
        self._keep_running_jobs()
        # kombu hands unacknowledged messages back when a channel closes. After a broker
        # connection loss it closes the channel once the connection is already released, and
        # this raises AttributeError ('NoneType' object has no attribute 'hostname'), which
        # Celery treats as unrecoverable: the worker exits (seen in the suite's Redis restart).
        # The messages stay claimed in Redis; this owner's heartbeat stops with the channel, and
        # any worker recovers them (conveyor.broker.fetch.owners): nothing is lost by not handing them back.
        try:
            return super().restore_unacked(client)
        except (AttributeError, redis.ConnectionError, redis.TimeoutError) as exc:
            logger.warning(
                "conveyor: could not hand %d unacknowledged message(s) back to their queues now (%s: %s); "
                "they return when this worker's heartbeat has expired",
                len(self._delivered),
                type(exc).__name__,
                exc,
            )
            return None

    def _keep_running_jobs(self) -> None:
        """Leave out of the hand-back the messages of jobs Celery goes on running after a connection loss."""
        if worker_state.should_stop is not None or worker_state.should_terminate is not None:
            return  # stopping: what is not done goes back (a warm shutdown waited for the running ones)
        if current_app.conf.get("worker_cancel_long_running_tasks_on_connection_loss"):
            return  # Celery cancels them: they must run again
        for request in list(worker_state.reserved_requests):
            message = request.message
            tag = bytes_to_str(message.delivery_tag) if message is not None else None
            if tag in self.claimed and message.channel is self.channel:
                self.kept.add(tag)
                self._delivered.pop(tag, None)
        if self.kept:
            logger.warning(
                "conveyor: the broker connection was lost while %d job(s) ran; they stay claimed by this worker "
                "and are acknowledged when they finish",
                len(self.kept),
            )
