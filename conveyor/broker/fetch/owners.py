"""Super fetch: jobs come back when their worker dies, and never while it lives.

kombu on Redis gives an unacknowledged message to another worker when it has been held
longer than the visibility timeout: a killed worker's jobs wait an hour (the shipped
timeout), and a job that runs longer than the timeout is started again on a second worker
while the first still runs it (celery#5935, #6229). Here, as in Sidekiq Pro's super_fetch,
recovery is keyed on a dead worker instead of elapsed time:

- every consuming channel is an **owner** with an id and a heartbeat key in Redis (TTL
  HEARTBEAT_TTL_S, refreshed every HEARTBEAT_INTERVAL_S by a thread of its own, which a
  job cannot block: under prefork jobs run in other processes, and elsewhere it only needs
  the GIL for a moment);
- the claim script (``conveyor.broker.fetch.reliable_fetch``) records each message it takes under
  its owner, in the same atomic step, and refuses to claim for an owner whose heartbeat has
  expired; acknowledging or requeueing removes the record (``conveyor.broker.fetch.acks``), and
  only the owner's own acknowledgement does;
- each owner's thread also looks for owners whose heartbeat expired, and for each runs
  RECOVER, one script that puts the dead owner's messages back at the head of the queue and
  priority list they came from. Two workers recovering at once cannot both requeue a
  message: the second finds nothing left;
- a job whose worker died MAX_WORKER_DEATHS times while running it is a poison pill: it is
  written to the dead set ("its worker died 3 times while running it") instead of killing
  the next worker.

A worker that was only paused (SIGSTOP, a VM migration) longer than the TTL finds its jobs
recovered when it resumes: it finishes them, its late acknowledgements are ignored, and the
job has run twice (at-least-once, as with any broker).

Example::

    owner = Owner(client, queues=["default"])   # done by the channel at its first fetch
    owner.start()                               # heartbeat + recovery thread
    owner.stop()                                # on close: its messages were handed back
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
import uuid
from typing import Any

import redis
from kombu.utils.encoding import bytes_to_str

from conveyor.broker.controls import sweep_limits
from conveyor.broker.fetch.poison import bury_poisoned
from conveyor.broker.scripts import Script
from conveyor.defaults import HEARTBEAT_INTERVAL_S, HEARTBEAT_TTL_S, MAX_WORKER_DEATHS, WORKER_DEATHS_TTL_S
from conveyor.keys import (
    CLAIMS_KEY,
    DEATHS_PREFIX,
    HEARTBEAT_PREFIX,
    HELD_PREFIX,
    LIMITS_KEY,
    OWNERS_KEY,
    POISONED_KEY,
    RECOVERY_GRACE_KEY,
    WAKE_CAP,
    WAKE_PREFIX,
)

__all__ = ["UNACKED_KEYS", "Owner", "heartbeat_key", "held_key", "recover_dead_owners"]

logger = logging.getLogger("conveyor.broker.fetch.owners")

#: kombu's unacknowledged-message hash and its index (its ``unacked_key`` and ``unacked_index_key``).
UNACKED_KEYS = ("unacked", "unacked_index")

_RECOVER = Script("recover", helpers=True)
_FIND_DEAD = Script("find_dead")


def heartbeat_key(owner: str) -> str:
    return HEARTBEAT_PREFIX + owner


def held_key(owner: str) -> str:
    return HELD_PREFIX + owner


def recover_dead_owners(client: Any, unacked: tuple[str, str] = UNACKED_KEYS) -> tuple[int, int]:
    """Requeue the messages of every owner whose heartbeat expired; (requeued, poisoned) counts."""
    dead = _FIND_DEAD(client, [OWNERS_KEY, RECOVERY_GRACE_KEY], [HEARTBEAT_PREFIX, 0])
    return _recover(client, [bytes_to_str(owner) for owner in dead], unacked)


def _recover(client: Any, owners: list[str], unacked: tuple[str, str], died: bool = True) -> tuple[int, int]:
    requeued = poisoned = 0
    for owner in owners:
        keys = [OWNERS_KEY, heartbeat_key(owner), held_key(owner), CLAIMS_KEY, *unacked, POISONED_KEY]
        args = [owner, MAX_WORKER_DEATHS, DEATHS_PREFIX, int(WORKER_DEATHS_TTL_S), WAKE_PREFIX, WAKE_CAP, int(died)]
        result = _RECOVER(client, keys, args)
        if result and int(result[0]) + int(result[-1]) > 0:
            requeued, poisoned = requeued + int(result[0]), poisoned + int(result[1])
            logger.warning(
                "conveyor: worker %s stopped sending heartbeats; %d of its job(s) put back in their queues%s",
                owner,
                int(result[0]),
                f", {int(result[1])} to the dead set (poison pills)" if int(result[1]) else "",
            )
    if poisoned or client.llen(POISONED_KEY):
        bury_poisoned(client)
    return requeued, poisoned


class Owner:
    """One consuming channel's identity and heartbeat, and the thread that also recovers dead owners."""

    def __init__(
        self,
        client: Any,
        queues: list[str],
        ttl: float = HEARTBEAT_TTL_S,
        interval: float = HEARTBEAT_INTERVAL_S,
        unacked: tuple[str, str] = UNACKED_KEYS,
    ) -> None:
        self.client, self.ttl, self.interval, self.unacked = client, float(ttl), float(interval), unacked
        self.id = uuid.uuid4().hex
        self.host, self.pid = socket.gethostname(), os.getpid()
        self.started_at = time.time()
        self.queues = list(queues)
        self._stop = threading.Event()
        self.limits_in_use = 0
        self._thread: threading.Thread | None = None
        #: The last beat failed (Redis away): the next one that goes through opens the recovery grace.
        self._lost = False
        #: Beating on for jobs still running after the channel closed (``linger``).
        self._lingering = False

    @property
    def _gate_ms(self) -> int:
        # A little under the interval: the next beat after one interval finds the gate open again.
        return max(1, int(self.interval * 900))

    @property
    def heartbeat_key(self) -> str:
        return heartbeat_key(self.id)

    @property
    def held_key(self) -> str:
        return held_key(self.id)

    def beat(self) -> list[str]:
        """Refresh the heartbeat; return the owners found dead (one round trip: SET, ZADD, script, LLEN, SCARD).

        The first beat that goes through after one failed opens the recovery grace (RECOVERY_GRACE_KEY
        for one heartbeat TTL) before the script looks for dead owners, and so does a beat that took
        longer than the interval (Redis stalled): Redis was away (a restart, a Sentinel failover, a
        freeze), and meanwhile every worker's heartbeat may have expired. In the grace every live
        worker beats again; only a heartbeat still missing after it is a death.

        The grace is the heartbeat TTL (30 s): a live worker that reaches Redis again within a TTL of
        the first one is never taken for dead, however long Redis was away. With Sentinel, Redis is
        away for ``down-after-milliseconds`` + the failover (promotion and the clients' rediscovery):
        heartbeats expire when that passes HEARTBEAT_TTL_S - HEARTBEAT_INTERVAL_S (25 s), which
        Sentinel's default ``down-after-milliseconds`` (30 s) does.
        """
        value = json.dumps({"host": self.host, "pid": self.pid, "queues": self.queues, "started_at": self.started_at})
        started = time.monotonic()
        try:
            with self.client.pipeline(transaction=False) as pipe:
                if self._lost:
                    self._open_grace(pipe)
                pipe.set(self.heartbeat_key, value, px=int(self.ttl * 1000))
                pipe.zadd(OWNERS_KEY, {self.id: time.time()})  # shown as "last heartbeat"; not used to decide death
                # One worker of the fleet scans per interval (the first whose beat sets the gate).
                pipe.evalsha(_FIND_DEAD.sha, 2, OWNERS_KEY, RECOVERY_GRACE_KEY, HEARTBEAT_PREFIX, self._gate_ms)
                pipe.llen(POISONED_KEY)
                pipe.scard(LIMITS_KEY)
                try:
                    *_, stale, poisoned, self.limits_in_use = pipe.execute()
                except redis.exceptions.NoScriptError:  # Redis restarted or failed over: load it, look next beat
                    _FIND_DEAD.load(self.client)
                    stale, poisoned = [], 0
        except Exception:
            self._lost = True
            raise
        if self._lost or time.monotonic() - started > self.interval:
            # Redis was away (the beat failed) or stalled (it took longer than a beat's interval): heartbeats
            # may have expired for that alone, this one's included, so nobody is found dead now.
            if not self._lost:
                self._open_grace(self.client)
            self._lost, stale = False, []
            logger.warning(
                "conveyor: Redis answers again after a pause; no worker is taken for dead for %.0f s, while every "
                "live worker beats again",
                self.ttl,
            )
        dead = [bytes_to_str(owner) for owner in stale if bytes_to_str(owner) != self.id]
        if poisoned and not dead:
            bury_poisoned(self.client, self.host)  # left by a recoverer that died half-way
        return dead

    def _holds_nothing(self) -> bool:
        try:
            return int(self.client.scard(self.held_key)) == 0
        except redis.RedisError:
            return False  # Redis away: keep beating, look again next time

    def _open_grace(self, client: Any) -> None:
        client.set(RECOVERY_GRACE_KEY, f"grace {self.id}", px=int(self.ttl * 1000))

    def start(self) -> None:
        """Beat once now (before anything is claimed under this id), then from a daemon thread."""
        self.beat()
        recover_dead_owners(self.client, self.unacked)  # at worker start, as well as on every beat
        self._thread = threading.Thread(target=self._run, name=f"conveyor-heartbeat-{self.id[:8]}", daemon=True)
        self._thread.start()

    def linger(self) -> None:
        """Beat on after the channel closed, until every message this owner holds is acknowledged, then stop.

        For the jobs a worker goes on running after its broker connection was lost
        (``conveyor.broker.fetch.acks``): they must not be taken for a dead worker's.
        """
        self._lingering = True

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            if self._lingering and self._holds_nothing():
                self.stop()  # from this thread: it does not wait for itself
                return
            try:
                dead = self.beat()
                if dead:
                    _recover(self.client, dead, self.unacked)
                if self.limits_in_use:  # concurrency limits in use: free slots held past their duration
                    sweep_limits(self.client)
            except Exception as exc:  # Redis away: the next beat tries again; the worker goes on
                logger.warning("conveyor: heartbeat of worker %s failed: %s: %s", self.id, type(exc).__name__, exc)

    def stop(self) -> None:
        """Stop beating and say so: what this owner still holds is recovered at once, not after the TTL."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=self.interval + 1)
        try:
            self.client.delete(self.heartbeat_key)
            _recover(self.client, [self.id], self.unacked, died=False)  # requeues what it could not hand back
        except Exception as exc:  # Redis away (the usual reason a channel closes): the TTL does it
            logger.info("conveyor: worker %s could not sign off (%s); its heartbeat expires instead", self.id, exc)
        finally:
            self.client.close()
