"""kombu's Redis transport with a reliable fetch, and with unparsable entries buried, not fatal.

**Reliable fetch.** kombu takes a message with ``BRPOP`` and records it as
unacknowledged (``unacked`` hash) afterwards, in a second command: a worker killed
between the two (``kill -9``, OOM, a lost machine) has taken the message out of Redis
and recorded it nowhere, so it is lost (seen in the fault-injection suite: one job in
about four runs of "kill -9 two of four workers"). Here a Lua script takes the message
*and* records it as unacknowledged, held by this channel's owner, in one atomic step
(``conveyor.broker.fetch.claim``), scanning the queue keys in
kombu's fetch order (queue order and priority steps, as ``BRPOP`` would). Lua cannot
block, so an idle worker waits with ``BLPOP`` on wake-up lists
(``conveyor:wake:<queue>``, capped at 1,000 tokens) that this transport pushes to with
every message it sends, and claims again when woken, or after IDLE_WAIT_S (5 s) at the
latest (messages sent by other producers wait at most that long; a channel that takes control
replies waits kombu's 1 s, as its reply queues come and go while it waits); that late look first asks
one EXISTS whether any queue list holds anything, so an idle worker costs Redis three
commands per wait, not a claim per second.
With ``global_keyprefix`` set, kombu's own ``BRPOP`` fetch is used.

**Super fetch.** Each consuming channel is an owner with a heartbeat
(``conveyor.broker.fetch.owners``): a dead owner's messages go back to their queues within
seconds of its heartbeat expiring, and a live owner's are never redelivered, however long
its jobs run. Acknowledgements act only on messages the channel still owns
(``conveyor.broker.fetch.acks``).

**Connection loss.** A broker connection lost while a worker holds unacknowledged
messages can make kombu raise out of the channel's close (``QoS.restore_unacked``) and
Celery stop the worker; here that is logged, the worker reconnects, and the messages
come back when the old channel's heartbeat has expired.

**Unparsable entries.** kombu parses each message it pops as JSON before Celery sees it;
a list entry that is not a kombu envelope (garbage pushed by hand, a truncated write,
another program's data) raises out of the consumer and the worker exits with
"Unrecoverable error". Here such an entry is logged, kept raw in the dead set
(``conveyor.broker.dead.dead_set``), and the worker goes on.

``conveyor.configure`` makes this the transport kombu uses for ``redis://`` and
``rediss://`` URLs (kombu's transport aliases), so URLs, Flower's broker page and
``driver_type`` stay Redis'.

Example::

    install()   # done by conveyor.configure for a Redis broker
"""

from __future__ import annotations

import functools
import logging
import random
import time
from queue import Empty
from typing import Any

import redis
from kombu.transport import redis as kombu_redis
from kombu.utils.encoding import bytes_to_str
from kombu.utils.json import dumps

from conveyor.broker import replicas
from conveyor.broker.controls import UNIQUE_HEADER, refuse_reserved, unique_put
from conveyor.broker.dead.dead_set import bury_entry
from conveyor.broker.fetch.acks import QoS
from conveyor.broker.fetch.channel_caches import ChannelCaches, bulk
from conveyor.broker.fetch.claim import CLAIM, NOT_A_MESSAGE, discarded_over_limit, parse_envelope
from conveyor.broker.fetch.owners import Owner
from conveyor.broker.fetch.promotion import ClaimJournal
from conveyor.broker.riders import rider_for
from conveyor.compat import kombu as kombu_compat
from conveyor.compat import require_attributes
from conveyor.defaults import HEARTBEAT_INTERVAL_S, HEARTBEAT_TTL_S, IDLE_WAIT_S
from conveyor.errors import DuplicateJobError
from conveyor.keys import (
    CLAIMS_KEY,
    LIMITS_KEY,
    LIMITS_TO_KEY,
    PAUSED_KEY,
    SCHEDULED_KEY,
    WAKE_CAP,
    WAKE_PREFIX,
    wake_key,
)
from conveyor.master_switches import follow

__all__ = [
    "WAKE_PREFIX",
    "Channel",
    "QoS",
    "SentinelChannel",
    "SentinelTransport",
    "Transport",
    "install",
    "parse_envelope",
    "wake_key",
]

#: The fetch's own generator: the global ``random`` stream is the application's (and its tests').
_RANDOM = random.Random()

logger = logging.getLogger("conveyor.broker.fetch.reliable_fetch")


class Channel(ChannelCaches):  # type: ignore[misc]
    QoS = QoS
    #: This channel's super-fetch identity, made at its first fetch (a producer's channel has none).
    _conveyor_owner: Owner | None = None
    #: Queues consumed with no_ack: their messages are not recorded as unacknowledged at all.
    _conveyor_no_ack: frozenset[str] = frozenset()

    def basic_consume(self, queue: str, *args: Any, **kwargs: Any) -> Any:
        if kwargs.get("no_ack", args[0] if args else False):
            self._conveyor_no_ack = self._conveyor_no_ack | {queue}
        return super().basic_consume(queue, *args, **kwargs)

    @property
    def owner_id(self) -> str:
        return self._conveyor_owner.id if self._conveyor_owner is not None else ""

    @property
    def owner_held_key(self) -> str:
        return self._conveyor_owner.held_key if self._conveyor_owner is not None else ""

    def _start_owner(self) -> Owner | None:
        options = self.connection.client.transport_options
        if not options.get("conveyor_super_fetch", True):
            return None  # the reliable fetch alone: kombu's acks and its visibility timeout
        owner = Owner(
            redis.Redis(connection_pool=self._owner_pool()),
            sorted(self.active_queues),
            ttl=float(options.get("conveyor_heartbeat_ttl", HEARTBEAT_TTL_S)),
            interval=float(options.get("conveyor_heartbeat_interval", HEARTBEAT_INTERVAL_S)),
            unacked=(self.unacked_key, self.unacked_index_key),
        )
        owner.start()  # beats once before returning: nothing is claimed under an id without a heartbeat
        self._conveyor_owner = owner
        return owner

    def _owner_pool(self) -> Any:
        # A pool of its own: a heartbeat never waits behind the fetch's blocking command.
        return redis.ConnectionPool(**self._connparams())

    def close(self) -> None:
        if self._in_poll and self._conveyor_sent == "wait" and not self.closed:
            # kombu reads a pending fetch's reply before closing: for a wait on wake-up lists that is up to
            # IDLE_WAIT_S of blocking (every worker stop, every test worker). A wait has nothing to hand
            # back (at most a wake-up token, a hint): its connection is dropped instead.
            waiting: Any = self._in_poll  # the connection the wait went out on (kombu declares a bool)
            waiting.disconnect()
            self._in_poll = None  # type: ignore[assignment]  # as kombu does after a read
        try:
            super().close()  # hands back what this channel holds (conveyor.broker.fetch.acks)
        finally:
            if self._conveyor_owner is not None:
                if self.qos.kept:  # jobs still running after a connection loss
                    self._conveyor_owner.linger()
                else:
                    self._conveyor_owner.stop()

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

    #: What the next fetch sends: "claim" (the Lua script), "look" (the claim after a wait that timed
    #: out: it first asks whether any list holds anything) or "wait" (BLPOP on wake-up lists).
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
        if self._conveyor_next in ("claim", "look"):
            # A channel that acknowledges nothing (Celery's control replies, no_ack) owns nothing either.
            no_ack = all(queue in self._conveyor_no_ack for queue in queues)
            owner = None if no_ack else self._conveyor_owner or self._start_owner()
            held, heartbeat, owner_id = (owner.held_key, owner.heartbeat_key, owner.id) if owner else ("", "", "")
            self._conveyor_sent = "claim"
            look = int(self._conveyor_next == "look")
            # EVALSHA: the script's text is not sent with every fetch (NOSCRIPT loads it, below). Only the
            # time and a random number change between fetches: the rest is encoded once (channel_caches).
            head, middle, tail = self._claim_command(
                queues,
                (held, heartbeat, owner_id, int(no_ack)),
                lambda keys: (
                    (
                        "EVALSHA",
                        CLAIM.sha,
                        len(keys) + 9,
                        self.unacked_key,
                        self.unacked_index_key,
                        CLAIMS_KEY,
                        held,
                        heartbeat,
                        SCHEDULED_KEY,
                        LIMITS_KEY,
                        LIMITS_TO_KEY,
                        PAUSED_KEY,
                        *keys,
                    ),
                    (owner_id, WAKE_PREFIX),
                    (int(no_ack),),
                ),
            )
            self.client.connection.send_packed_command(
                [head, bulk(time.time()), middle, bulk(_RANDOM.random()), tail, bulk(look)]
            )
        else:
            options = self.connection.client.transport_options
            wait = float(options.get("conveyor_idle_wait", IDLE_WAIT_S))
            if self._conveyor_no_ack:
                # A channel that takes replies (Celery's control and inspect, Flower's pages, the CLI) adds a
                # reply queue while its wait is pending, and waits about a second for the answer: the wait it
                # sent does not name the new queue, so it must end within kombu's one second.
                wait = min(wait, float(self.brpop_timeout or 1))
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
                    self.client.connection, "EVALSHA" if sent == "claim" else "BLPOP", **options
                )
            except self.connection_errors:
                self.client.connection.disconnect()
                raise
            except redis.exceptions.NoScriptError:  # a new or restarted Redis: load the script, claim again
                with self.conn_or_acquire() as client:
                    CLAIM.load(client)
                raise Empty() from None
            except redis.ResponseError as exc:  # a script error: log it, wait, try again
                logger.error("conveyor: fetching a message failed: %s", exc)
                self._conveyor_next = "wait"
                raise Empty() from None
            if sent != "claim":
                self._conveyor_next = "claim" if reply else "look"  # woken by a token, or the wait timed out
                raise Empty()
            if not reply:
                self._conveyor_next = "wait"
                raise Empty()
            return self._take(reply)
        finally:
            self._in_poll = None  # type: ignore[assignment]  # as kombu does
            flush = getattr(self, "_flush_brpop_reauth", None)
            if flush is not None:
                flush()

    def _take(self, reply: list[Any]) -> bool:
        """Deliver what the claim script returned (``[list, entry, verdict, tag]``), or set it aside."""
        key, item, verdict = reply[0], reply[1], bytes_to_str(reply[2])
        if verdict == "discarded":  # over a concurrency limit that discards
            logger.warning("conveyor: %s", discarded_over_limit(item))
            raise Empty()
        if verdict == "dead" and self._conveyor_owner is not None:
            # Paused past its heartbeat's TTL (its jobs were recovered): beat before claiming again.
            self._conveyor_owner.beat()
            raise Empty()
        dest = bytes_to_str(key).rsplit(self.sep, 1)[0]
        self._queue_cycle.rotate(dest)
        try:
            if verdict in ("bad", "forged"):  # forged: a control header naming a key not its own
                raise ValueError(bytes_to_str(reply[3]) if verdict == "forged" else NOT_A_MESSAGE)
            payload = parse_envelope(item, dest)
        except ValueError as exc:
            if verdict == "ok":  # claimed, but Python cannot read it: not unacked after all
                self._unclaim(bytes_to_str(reply[3]))
            self._bury(dest, item, exc)
            raise Empty() from None
        if self._conveyor_owner is not None:
            self.qos.claimed.add(bytes_to_str(reply[3]))
        self.connection._deliver(payload, dest)
        return True

    def _put(self, queue: str, message: Any, **kwargs: Any) -> None:
        refuse_reserved(queue)  # a send to "conveyor:paused" would create a list the claim cannot read
        publish_batch = kwargs.get(kombu_compat.PUBLISH_BATCH_KEYWORD)
        if self.global_keyprefix or (self._expires and queue in self._expires):
            super()._put(queue, message, **kwargs)
            if publish_batch is None:
                with self.conn_or_acquire() as client:
                    wake(client, queue)
            return
        key = self._q_for_pri(queue, self._get_message_priority(message, reverse=False))
        data = dumps(message)
        headers = message.get("headers")
        uniq = headers.get(UNIQUE_HEADER) if isinstance(headers, dict) else None
        if isinstance(uniq, dict) and isinstance(uniq.get("key"), str):
            # @unique: the lock and the message in one script; a duplicate is refused, not sent.
            with self.conn_or_acquire() as client:
                job_id = str(headers.get("id"))  # type: ignore[union-attr]
                holder = unique_put(
                    client, uniq["key"], int(uniq.get("ttl_ms") or 1), job_id, key, wake_key(queue), data
                )
                if holder is None:
                    replicas.wait(client, self.enqueue_replicas, f"job {job_id}")
            if holder is not None:
                raise DuplicateJobError(
                    f"job {job_id} is a duplicate of job {holder}, which holds {uniq['key']}",
                    job_id=job_id,
                    holder_id=holder,
                )
            return
        if publish_batch is not None:  # kombu's batch: the commands go out with the batch
            publish_batch.add("lpush", key, data)
            publish_batch.add("lpush", wake_key(queue), 1)
            publish_batch.add("ltrim", wake_key(queue), 0, WAKE_CAP - 1)
            return
        rider = rider_for(headers.get("id")) if isinstance(headers, dict) else None
        with self.conn_or_acquire() as client, client.pipeline(transaction=False) as pipe:  # one round trip
            if rider is not None:  # a caller's write that must land with this job (conveyor.broker.riders)
                rider.write(pipe)
            wake(pipe.lpush(key, data), queue)
            durable = replicas.wait_command(pipe, self.enqueue_replicas)
            replies = pipe.execute()
        if rider is not None:
            rider.applied = True
        if durable:
            replicas.confirm(replies[-1], self.enqueue_replicas, f"the message for queue {queue!r}")

    @functools.cached_property
    def enqueue_replicas(self) -> tuple[int, int]:
        """Durable enqueue's (replicas, timeout ms) from the transport options, read once per channel."""
        return replicas.wanted(self.connection.client.transport_options)

    def _get(self, queue: Any, timeout: Any = None) -> Any:
        with self.conn_or_acquire() as client:
            for pri in self.priority_steps:
                # An entry buried here may have a message behind it in the same list: that one is next.
                while item := client.rpop(self._q_for_pri(queue, pri)):
                    self._maybe_update_queues_expire(client, queue)
                    try:
                        return parse_envelope(item, queue)
                    except ValueError as exc:
                        self._bury(queue, item, exc)
            self._maybe_update_queues_expire(client, queue)
            raise Empty()

    def _unclaim(self, tag: str) -> None:
        with self.conn_or_acquire() as client, client.pipeline(transaction=False) as pipe:
            pipe.hdel(self.unacked_key, tag).zrem(self.unacked_index_key, tag)
            pipe.hdel(CLAIMS_KEY, tag).srem(self.owner_held_key, tag).execute()

    def _bury(self, queue: str, item: bytes | str, exc: Exception) -> None:
        with self.conn_or_acquire() as client:
            bury_entry(client, queue, item, f"unparsable message in queue {queue}: {type(exc).__name__}: {exc}")


def wake(client: Any, queue: str, tokens: int = 1) -> None:
    """Push ``tokens`` wake-up tokens for ``queue`` (a client or a pipeline), keeping at most WAKE_CAP."""
    client.lpush(wake_key(queue), *([1] * min(tokens, WAKE_CAP)))
    client.ltrim(wake_key(queue), 0, WAKE_CAP - 1)


class Transport(kombu_redis.Transport):  # type: ignore[misc]
    Channel = Channel


class SentinelChannel(Channel, kombu_redis.SentinelChannel):  # type: ignore[misc]
    """This channel, its connections from kombu's Sentinel channel: each asks the sentinels for the master.

    kombu's ``SentinelChannel`` only changes how the pool is made (``Sentinel.master_for``); the
    fetch, acknowledgements and super fetch above it are this module's, unchanged.
    """

    def _sentinel_managed_pool(self, asynchronous: bool = False) -> Any:
        # The channel's pools (and the heartbeats', below) go to a new master as soon as it is announced.
        pool = super()._sentinel_managed_pool(asynchronous)
        follow(pool)
        return pool

    #: The fetch left a replaced master: the recent claims are to be made again on the new one.
    _conveyor_replay_due = False

    @functools.cached_property
    def _conveyor_journal(self) -> ClaimJournal:
        return ClaimJournal()

    def _take(self, reply: list[Any]) -> bool:
        delivered = super()._take(reply)  # raises Empty when nothing is delivered
        if self._conveyor_owner is not None:
            self._conveyor_journal.claimed(reply[0], reply[1], bytes_to_str(reply[3]))
        return delivered

    #: The master this channel's fetch last claimed on (host, port).
    _conveyor_claimed_on: tuple[str, int] | None = None

    def _brpop_start(self, timeout: Any = None) -> None:
        self._claim_where_the_last_claims_are()
        return super()._brpop_start(timeout)  # type: ignore[no-any-return]

    def _brpop_read(self, **options: Any) -> bool:
        try:
            return super()._brpop_read(**options)
        finally:
            self._leave_a_replaced_master()

    def _claim_where_the_last_claims_are(self) -> None:
        """Before a fetch: if its connection now reaches another master, send the recent claims there first.

        The fetch's connection can reach the new master without passing through the check below: its
        old master dropped it (a demotion closes client connections), kombu connected it again, and
        the Sentinel connection asked the sentinels for the master while the announcement had not
        reached this process yet. Its first claims there would take again what it claimed on the
        old master: 143 of 1,000 jobs ran twice in a loaded CI run. The connection is opened here
        (sending the claim would open it anyway), so its master is known before anything is claimed,
        and the journal goes on this connection (``conveyor.broker.fetch.promotion`` says why).
        """
        connection = getattr(self.client, "connection", None)
        if connection is None or self._conveyor_owner is None:
            return
        try:
            connection.connect()  # at once if connected; a Sentinel connection asks for the master here
        except redis.RedisError:
            return  # sending the claim raises it, and kombu reconnects as before
        here = (str(connection.host), int(connection.port))
        if self._conveyor_claimed_on is not None and here != self._conveyor_claimed_on:
            self._conveyor_replay_due = True
        self._conveyor_claimed_on = here
        if self._conveyor_replay_due:
            self._replay_claims(connection, here)

    def _leave_a_replaced_master(self) -> None:
        """Between two fetches: if the fetch's connection is to a master the sentinels replaced, drop it.

        The fetch keeps one connection (kombu's poller watches its socket), which the pool never gets
        back: the pool follows a promotion at once (conveyor.master_switches), this connection did not,
        and went on claiming on the old master until its demotion, some seconds later. Those claims
        vanished with it while the jobs stayed queued on the new master: each ran twice (700 of 1,000 in
        tests/reliability/test_failover.py). Dropped here, kombu's poller connects it again, to the new
        master, before the next fetch, which first sends the claims made on the old master again.
        """
        connection = getattr(self.client, "connection", None)
        master = getattr(self.client.connection_pool, "master_address", None)
        if connection is not None and master is not None and (connection.host, connection.port) != tuple(master):
            connection.disconnect()
            self._conveyor_replay_due = self._conveyor_owner is not None

    def _replay_claims(self, connection: Any, here: tuple[str, int]) -> None:
        """Send the journal on the fetch's ``connection`` (to ``here``), before the fetch sends its claim.

        An error is raised as the claim's own send would raise it (the consumer reconnects): the fetch
        must not claim there before the journal is sent, and a connection whose replies were left
        unread cannot carry the claim.
        """
        keys = [self.unacked_key, self.unacked_index_key, CLAIMS_KEY, self.owner_held_key]
        qos = self.qos
        try:
            verdicts = self._conveyor_journal.replay(
                connection, keys, self.owner_id, set(qos.acknowledged), set(qos.handed_back)
            )
        except redis.RedisError as exc:
            logger.warning("conveyor: claims made on the replaced master could not be sent to %s:%s: %s", *here, exc)
            raise
        self._conveyor_replay_due = False
        self._follow_with_the_acknowledgements(here)
        logger.warning(
            "conveyor: following the new master, this worker sent its claims of the last %.0f s again: %s",
            self._conveyor_journal.window_s,
            ", ".join(f"{count} {verdict}" for verdict, count in sorted(verdicts.items())) or "none",
        )

    def _follow_with_the_acknowledgements(self, here: tuple[str, int]) -> None:
        """Move the channel's other pool (acknowledgements, sends) to the master the fetch is on now.

        Each pool follows the announcement on its own, one after the other: an acknowledgement sent
        through a pool that has not followed yet would land on the old master and vanish, leaving the
        job held on the new one by a worker that is done with it.
        """
        pool = getattr(self, "pool", None)
        if pool is None or getattr(pool, "master_address", None) == here:
            return
        try:
            pool.get_master_address()  # asks the sentinels; closes its idle connections to the old master
        except redis.RedisError as exc:
            logger.warning("conveyor: the channel's pool could not ask for the new master: %s", exc)

    def _owner_pool(self) -> Any:
        # The heartbeats' own pool, also asking the sentinels. kombu keeps the channel's Sentinel to close
        # its connections at disconnect: it stays the channel's (the owner's pool holds its own).
        channels_own = getattr(self, "_sentinel_manager", None)
        pool = self._sentinel_managed_pool()
        require_attributes(self, kombu_compat.SENTINEL_INSTANCE_WRITES, "kombu")
        self._sentinel_manager = channels_own
        return pool


class SentinelTransport(Transport):
    """The transport for ``sentinel://`` URLs (``conveyor.configure`` derives them from ``redis+sentinel://``)."""

    default_port = kombu_redis.SentinelTransport.default_port  # type: ignore[assignment]  # kombu's Transport says None
    Channel = SentinelChannel


def install() -> None:
    """Make kombu use this transport for redis://, rediss:// and sentinel:// URLs in this process."""
    for scheme in ("redis", "rediss"):
        kombu_compat.register_transport(scheme, f"{__name__}:Transport")
    kombu_compat.register_transport("sentinel", f"{__name__}:SentinelTransport")
