"""kombu's private names conveyor uses: the Redis channel the reliable fetch subclasses.

``conveyor.broker.fetch.reliable_fetch.Channel`` overrides ``_brpop_start``, ``_brpop_read``,
``_put``, ``_get`` and ``_connparams`` and reads the channel state listed below; bulk
enqueue (``conveyor.jobs.adapters``) builds kombu's Redis envelopes with
``prepare_message``, ``_inplace_augment_message`` and the priority keys. If kombu renamed
``_brpop_start``, the override would never be called and the fetch would silently be
kombu's own again (no atomic claim): this guard turns that into an error at start.

Example::

    register_transport("redis", "conveyor.broker.fetch.reliable_fetch:Transport")
"""

from __future__ import annotations

from typing import Any

from kombu.utils.json import dumps

from conveyor.compat.guard import Guard, require_attributes

__all__ = [
    "CHANNEL_INSTANCE_READS",
    "CHANNEL_VALUES",
    "GUARD",
    "PUBLISH_BATCH_KEYWORD",
    "check_redis_channel",
    "redis_envelope",
    "register_transport",
]

CHANNEL_OVERRIDES = (
    "_brpop_start",
    "_brpop_read",
    "_put",
    "_get",
    "_connparams",
    "close",
    "basic_consume",
    "_create_client",
    "pool",
)
CHANNEL_READS = (
    "_q_for_pri",
    "_get_message_priority",
    "_inplace_augment_message",
    "prepare_message",
    "conn_or_acquire",
    "_maybe_update_queues_expire",
    "global_keyprefix",
    "_in_poll",
    "unacked_key",
    "unacked_index_key",
    "priority_steps",
    "sep",
    "_do_restore_message",
    "active_queues",
    # the fetch sets _brpop_sent_at (kombu's health check reads it) and calls _flush_brpop_reauth as kombu's
    # _brpop_read does; kombu's publish batch passes itself to _put as the _publish_batch keyword
    "_brpop_sent_at",
    "_flush_brpop_reauth",
    "create_publish_batch",
)
#: The keyword kombu's PublishBatch.publish passes itself as to Channel._put (``basic_publish``'s kwargs).
PUBLISH_BATCH_KEYWORD = "_publish_batch"
#: The values conveyor's own code repeats (``conveyor.keys.PRIORITY_SEPARATOR``, the reserved
#: ``_kombu`` and ``unacked`` prefixes of ``conveyor.validation``): checked to be kombu's still.
CHANNEL_VALUES = {
    "Channel.sep": "\x06\x16",
    "Channel.keyprefix_queue": "_kombu.binding.%s",
    "Channel.unacked_key": "unacked",
    "Channel.unacked_index_key": "unacked_index",
}
#: conveyor.broker.fetch.acks overrides these of kombu's Redis QoS and calls the rest.
QOS_NAMES = (
    "append",
    "ack",
    "reject",
    "restore_by_tag",
    "restore_unacked",
    "restore_visible",
    "_delivered",
    "_remove_from_indices",
    "unacked_key",
    "unacked_index_key",
)
#: Set by ``SentinelChannel._sentinel_managed_pool`` (the Sentinel kombu closes at disconnect): checked
#: after each call, as conveyor keeps the channel's own there when it makes the heartbeats' pool.
SENTINEL_INSTANCE_WRITES = ("_sentinel_manager",)
#: Set in ``Channel.__init__``: checked on each channel the reliable fetch opens.
CHANNEL_INSTANCE_READS = ("_queue_cycle", "brpop_timeout", "connection_errors", "_expires")

GUARD = Guard(
    "kombu",
    "kombu.transport.redis",
    {
        "Channel": CHANNEL_OVERRIDES + CHANNEL_READS,
        "QoS": QOS_NAMES,
        "Transport": ("Channel",),
        "PublishBatch": ("publish",),
        # Behind Sentinel, a super-fetch owner's heartbeat client gets a pool of its own the way the
        # channel's is made (Sentinel.master_for), so heartbeats follow a failover too.
        "SentinelChannel": ("_sentinel_managed_pool",),
        "SentinelTransport": ("default_port",),
    },
    tested=">=5.7,<5.8",
    values=CHANNEL_VALUES,
    extra_modules={
        "kombu.transport": {"": ("TRANSPORT_ALIASES",)},
        # the fetch hands a claimed message to the connection's delivery callback, as kombu's own fetch does
        "kombu.transport.virtual.base": {"Transport": ("_deliver",), "QoS": ("append", "ack")},
        "kombu.serialization": {"": ("dumps",)},
        "kombu.utils.json": {"": ("dumps", "loads")},
    },
)


def check_redis_channel(channel: Any) -> None:
    """The producer's channel is kombu's Redis channel (the bulk and scheduled-set paths build its envelopes)."""
    require_attributes(
        channel, ("prepare_message", "_inplace_augment_message", "_q_for_pri", "conn_or_acquire"), "kombu"
    )


def redis_envelope(
    channel: Any,
    data: Any,
    priority: int | None,
    content_type: str,
    content_encoding: str,
    headers: dict[str, Any],
    properties: dict[str, Any],
    queue: str,
) -> tuple[str, str]:
    """The list key and JSON envelope kombu's Redis transport would LPUSH for this message.

    Built with kombu's own ``prepare_message``, ``_inplace_augment_message`` and priority keys,
    so a worker receives exactly what ``Producer.publish`` would have sent.
    """
    envelope = channel.prepare_message(data, priority, content_type, content_encoding, headers, properties)
    channel._inplace_augment_message(envelope, "", queue)
    key = channel._q_for_pri(queue, channel._get_message_priority(envelope, reverse=False))
    return key, dumps(envelope)  # type: ignore[no-untyped-call]


def register_transport(scheme: str, target: str) -> None:
    """Make kombu resolve ``scheme://`` URLs to ``target`` ("module:Transport") in this process."""
    from kombu.transport import TRANSPORT_ALIASES

    TRANSPORT_ALIASES[scheme] = target
