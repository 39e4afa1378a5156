"""Following a Sentinel failover at once: every client pool goes to the new master when it is announced.

redis-py's Sentinel pools ask the sentinels for the master only when they open a connection, and a
connection to the old master keeps working after the promotion: Sentinel reconfigures the old
master as a replica some seconds later (about 10 s here, Redis 7.0.15), and until then it accepts
writes that vanish at its demotion — an enqueue, an acknowledgement, a heartbeat acknowledged and
lost. The sentinels announce the promotion on their ``+switch-master`` channel; one thread per
process and service listens there (to the first sentinel that answers, then the next) and, for
each pool that follows the service, calls redis-py's ``get_master_address()``, which records the new
address and closes the idle connections; a connection in use when the switch comes is closed when
it is handed back (the pool no longer owns a connection to another address). The fetch's blocking
command on the old master ends at the demotion, as before (conveyor.broker.fetch.acks keeps the
running jobs' claims across that reconnection).

A switch announced while the listener was not subscribed (every sentinel away, a restart) is
caught when it subscribes again: it asks each pool for the master then too.

Example::

    follow(client.connection_pool)   # done for conveyor's clients, kombu's channels and the heartbeats
"""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from typing import Any

import redis

__all__ = ["follow", "switches_followed"]

logger = logging.getLogger("conveyor.master_switches")

#: Sentinel publishes "<service> <old ip> <old port> <new ip> <new port>" here after a promotion.
CHANNEL = "+switch-master"
#: How long (s) the listener waits for a message before it looks at whether it should stop.
_POLL_S = 1.0
#: How long (s) it waits before it tries the sentinels again when none answered.
_RETRY_S = 1.0

_lock = threading.Lock()
_listeners: dict[tuple[int, str, tuple[tuple[str, int], ...]], _Listener] = {}


def follow(pool: Any) -> None:
    """Move ``pool`` (a ``redis.sentinel.SentinelConnectionPool`` of a master) to each new master as announced.

    Any other pool (a plain Redis URL, a replica's pool) is left as it is.
    """
    manager, service = getattr(pool, "sentinel_manager", None), getattr(pool, "service_name", None)
    if manager is None or service is None or not getattr(pool, "is_master", False):
        return
    sentinels = manager.sentinels
    addresses = tuple(_address(sentinel) for sentinel in sentinels)
    key = (os.getpid(), str(service), addresses)  # a forked child starts its own listener
    with _lock:  # added under the lock: a listener with no pool left ends under it (_Listener._wanted)
        listener = _listeners.get(key)
        if listener is None:
            listener = _listeners[key] = _Listener(str(service), list(sentinels))
            listener.pools.add(pool)
            listener.start()
        else:
            listener.pools.add(pool)


def switches_followed(service: str) -> int:
    """How many promotions of ``service`` this process has followed (for tests and diagnostics)."""
    return sum(
        listener.switches
        for (pid, name, _), listener in list(_listeners.items())
        if pid == os.getpid() and name == service
    )


def _address(sentinel: Any) -> tuple[str, int]:
    kwargs = sentinel.connection_pool.connection_kwargs
    return str(kwargs.get("host")), int(kwargs.get("port", 26379))


class _Listener:
    """The thread that listens to one service's announcements, and the pools it moves."""

    def __init__(self, service: str, sentinels: list[Any]) -> None:
        self.service, self.sentinels = service, sentinels
        self.pools: weakref.WeakSet[Any] = weakref.WeakSet()
        self.switches = 0
        self._thread = threading.Thread(target=self._run, name=f"conveyor-sentinel-{service}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        # Until no pool follows the service any more (the clients were closed and collected); follow()
        # starts a new listener for the next one.
        while self._wanted():
            for sentinel in self.sentinels:
                try:
                    self._listen(sentinel)
                except Exception as exc:  # this sentinel is away (errors differ across redis-py versions): the next one
                    logger.debug("conveyor: sentinel %s: %s: %s", _address(sentinel), type(exc).__name__, exc)
                if not self._wanted():
                    return
            time.sleep(_RETRY_S)

    def _wanted(self) -> bool:
        if len(self.pools):
            return True
        with _lock:  # nobody follows: this listener ends, and follow() will start another if needed
            if len(self.pools):
                return True
            for key, listener in list(_listeners.items()):
                if listener is self:
                    del _listeners[key]
            return False

    def _listen(self, sentinel: Any) -> None:
        with sentinel.pubsub(ignore_subscribe_messages=True) as pubsub:
            pubsub.subscribe(CHANNEL)
            self._follow()  # a switch announced while nobody listened
            while self._wanted():
                message = pubsub.get_message(timeout=_POLL_S)
                if message is None:
                    continue
                fields = message["data"].decode() if isinstance(message["data"], bytes) else str(message["data"])
                name, _, where = fields.partition(" ")
                if name == self.service:
                    logger.warning("conveyor: Sentinel promoted a new master of %r (%s): following it", name, where)
                    self._follow()
                    self.switches += 1

    def _follow(self) -> None:
        for pool in list(self.pools):
            try:
                pool.get_master_address()  # records the new address, closes the idle connections to the old one
            except (redis.RedisError, OSError) as exc:  # no master named yet: the next connection asks again
                logger.debug("conveyor: %s: %s", self.service, exc)
