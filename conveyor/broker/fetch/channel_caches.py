"""What a Redis channel keeps between commands instead of making it again each time.

Found by profiling a worker's main process (``benchmarks/profile_worker.py``): kombu makes a new
``redis.Redis`` for every command outside the fetch (each acknowledgement, each send), and
``redis.Redis.__init__`` took a twentieth of the main process; the claim script's list keys
(every queue at every priority step, 60 for the reference service) were built and encoded by
redis-py again for every fetch (a sixth of the main process), though only two arguments change.

Example (the base of ``conveyor.broker.fetch.reliable_fetch.Channel``)::

    with channel.conn_or_acquire() as client:   # the same client every time, per connection pool
        ...
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from kombu.transport import redis as kombu_redis

__all__ = ["ChannelCaches", "bulk"]


def bulk(value: Any) -> bytes:
    """One argument in Redis' protocol, encoded as redis-py encodes it (str as UTF-8, numbers by repr)."""
    data = value if isinstance(value, bytes) else (value.encode() if isinstance(value, str) else repr(value).encode())
    return b"$%d\r\n%s\r\n" % (len(data), data)


#: The claim command's arguments around its changing ones (the time, a random number, and the look flag last).
ClaimParts = tuple[Sequence[Any], Sequence[Any], Sequence[Any]]


class ChannelCaches(kombu_redis.Channel):  # type: ignore[misc]
    """kombu's Redis channel with one client per connection pool, the claim command per queue set."""

    #: The client conveyor's commands use outside the fetch (acks, sends), made once per connection pool.
    _conveyor_client: Any = None
    #: The claim command, encoded, per set of queues and owner: (head, middle, tail) bytes.
    _conveyor_claim_commands: dict[tuple[Any, ...], tuple[bytes, bytes, bytes]] | None = None

    def _create_client(self, asynchronous: bool = False) -> Any:
        # kombu makes a new redis.Redis for every command outside the fetch (each ack, each send):
        # its __init__ cost a twentieth of a worker's main process. One client per connection pool
        # serves them all (redis-py clients are thread-safe; the connections are the pool's).
        if asynchronous:
            return super()._create_client(asynchronous=True)
        client = self._conveyor_client
        if client is None or client.connection_pool is not self.pool:
            client = self._conveyor_client = super()._create_client()
        return client

    def _claim_command(
        self, queues: list[str], owner: tuple[Any, ...], parts: Callable[[list[str]], ClaimParts]
    ) -> tuple[bytes, bytes, bytes]:
        """The claim command encoded around its three changing arguments (the caller sends the time between head
        and middle, a random number between middle and tail, the look flag after tail); ``parts(keys)`` gives
        the rest, ``keys`` being every queue's list at every priority step."""
        cache = self._conveyor_claim_commands
        if cache is None:
            cache = self._conveyor_claim_commands = {}
        cache_key = (tuple(queues), *owner)
        command = cache.get(cache_key)
        if command is None:
            keys = [self._q_for_pri(queue, pri) for pri in self.priority_steps for queue in queues]
            head, middle, tail = parts(keys)
            count = len(head) + len(middle) + len(tail) + 3
            command = cache[cache_key] = (
                b"*%d\r\n" % count + b"".join(map(bulk, head)),
                b"".join(map(bulk, middle)),
                b"".join(map(bulk, tail)),
            )
        return command
