"""Durable enqueue (opt-in): an enqueue returns once N replicas have the job, or raises.

Redis replicates asynchronously: a job the master acknowledged can vanish if the master fails
before a replica received it (a Sentinel failover, or a managed Redis's, promotes the replica).
``broker_transport_options={"conveyor_enqueue_replicas": 1}`` makes every enqueue path (a send, a
``@unique`` send, ``perform_all_later``'s pipelines, the scheduled set) end with Redis' ``WAIT 1
<timeout>`` in the same round trip: it returns when one replica has everything written so far on
that connection, or when ``conveyor_enqueue_replicas_timeout`` (s, default 1) passes, and then
``NotReplicatedError`` says how many confirmed. Off by default, as in Sidekiq: it costs a
replication round trip per enqueue (``benchmarks/durable_enqueue.py``).

Example::

    conveyor.configure(app, broker_transport_options={"conveyor_enqueue_replicas": 1})
"""

from __future__ import annotations

from typing import Any

from conveyor.errors import NotReplicatedError

__all__ = ["confirm", "of_channel", "wait", "wait_command", "wanted"]


def wanted(transport_options: dict[str, Any]) -> tuple[int, int]:
    """(replicas, timeout in ms) from a broker's transport options; (0, 0) when off."""
    replicas = int(transport_options.get("conveyor_enqueue_replicas") or 0)
    if replicas <= 0:
        return 0, 0
    return replicas, max(1, int(float(transport_options.get("conveyor_enqueue_replicas_timeout", 1.0)) * 1000))


def of_channel(channel: Any) -> tuple[int, int]:
    """What a producer's channel asks for (conveyor's channel reads it once: ``enqueue_replicas``)."""
    cached = getattr(channel, "enqueue_replicas", None)
    return cached if cached is not None else wanted(channel.connection.client.transport_options)


def wait_command(pipe: Any, wanted: tuple[int, int]) -> bool:
    """Queue ``WAIT`` on ``pipe`` if durable enqueue is on (``wanted``: see ``wanted()``); whether it did."""
    replicas, timeout_ms = wanted
    if replicas:
        pipe.execute_command("WAIT", replicas, timeout_ms)
    return bool(replicas)


def confirm(confirmed: Any, wanted: tuple[int, int], what: str) -> None:
    """Raise ``NotReplicatedError`` if ``WAIT`` answered fewer replicas than wanted."""
    replicas, timeout_ms = wanted
    if int(confirmed) < replicas:
        raise NotReplicatedError(
            f"{what} was written to the Redis master, but {int(confirmed)} of the {replicas} replica(s) "
            f"conveyor_enqueue_replicas asks for confirmed it within {timeout_ms} ms: it runs unless the master "
            "fails first; enqueuing it again may run it twice",
            wanted=replicas,
            confirmed=int(confirmed),
        )


def wait(client: Any, wanted: tuple[int, int], what: str) -> None:
    """After a write on ``client`` (a script's), ``WAIT`` for the replicas now, if durable enqueue is on."""
    replicas, timeout_ms = wanted
    if replicas:
        confirm(client.execute_command("WAIT", replicas, timeout_ms), wanted, what)
