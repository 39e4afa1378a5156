"""Every Redis key conveyor owns, by name: the dead set, the scheduled set, wake-up lists, super fetch's
owners and claims, the control locks, paused queues, and kombu's priority lists as conveyor reads them.

A key outlives the process that wrote it, so each name is defined once here; the Lua scripts get
them in ``KEYS`` (``conveyor/broker/lua``) and ``conveyor.validation`` keeps queue names out of them.

Example::

    wake_key("default")                  # 'conveyor:wake:default'
    priority_queue_key("default", 3)     # 'default\x06\x163' (kombu's list for priority 3)
"""

from __future__ import annotations

__all__ = [
    "BATCHES_KEY",
    "BATCH_PREFIX",
    "CLAIMS_KEY",
    "DJANGO_RESULT_PREFIX",
    "DEAD_JOBS_KEY",
    "DEAD_KEY",
    "DEATHS_PREFIX",
    "HEARTBEAT_PREFIX",
    "HELD_PREFIX",
    "LIMITS_KEY",
    "LIMIT_PREFIX",
    "LIMITS_TO_KEY",
    "OWNERS_KEY",
    "PAUSED_KEY",
    "RECOVERY_GRACE_KEY",
    "POISONED_KEY",
    "PRIORITY_SEPARATOR",
    "SCHEDULED_KEY",
    "THROTTLE_PREFIX",
    "UNIQUE_PREFIX",
    "WAKE_CAP",
    "WAKE_PREFIX",
    "priority_queue_key",
    "wake_key",
]

#: The dead set: a sorted set (job id → time of death) and a hash (job id → JSON record).
DEAD_KEY = "conveyor:dead"
DEAD_JOBS_KEY = "conveyor:dead:jobs"
#: The scheduled set: a sorted set of delayed kombu messages scored by due time.
SCHEDULED_KEY = "conveyor:scheduled"
#: Idle workers of a queue block on ``WAKE_PREFIX + queue``; senders push a token per message.
WAKE_PREFIX = "conveyor:wake:"
#: Tokens kept per wake-up list: enough to wake every idle worker of a burst.
WAKE_CAP = 1000
#: Super fetch (``conveyor.broker.fetch.owners``). Each consuming channel is an *owner*: a heartbeat
#: string with a TTL (JSON: host, pid, queues, started), its score in the OWNERS_KEY sorted set
#: (owner id → time of its last heartbeat), the set of delivery tags it holds (HELD_PREFIX + id),
#: and per held tag a claim record in CLAIMS_KEY: ``"<owner> <length of the message> <source list>"``.
HEARTBEAT_PREFIX = "conveyor:heartbeat:"
OWNERS_KEY = "conveyor:owners"
#: ``grace <owner>``, for HEARTBEAT_TTL_S, set by a worker whose heartbeat failed and then went through
#: again: Redis was away (a restart, a failover), every worker's heartbeat may have expired meanwhile,
#: and no owner is taken for dead while it holds, so that live workers beat again first. Otherwise
#: ``scan``, for about a heartbeat interval, set by the beat that looked for dead owners: one worker
#: of a fleet looks per interval.
RECOVERY_GRACE_KEY = "conveyor:recovery-grace"
HELD_PREFIX = "conveyor:held:"
CLAIMS_KEY = "conveyor:claims"
#: How often a job's worker died while running it (job id → count, with a TTL): a poison pill at 3.
DEATHS_PREFIX = "conveyor:deaths:"
#: Messages taken from a dead owner for the last time, waiting to be written to the dead set:
#: ``"<length of source> <deaths> <source list><message>"``.
POISONED_KEY = "conveyor:poisoned"
#: The prefixes of the keys the control headers name (``conveyor.broker.controls``): a message's
#: header naming a key outside its own prefix is refused (the claim script checks the same strings).
UNIQUE_PREFIX = "conveyor:unique:"
LIMIT_PREFIX = "conveyor:limit:"
THROTTLE_PREFIX = "conveyor:throttle:"
#: Concurrency limits in use (``conveyor.broker.controls``): a set of slot keys, and each key's size.
LIMITS_KEY = "conveyor:limits"
LIMITS_TO_KEY = "conveyor:limits:to"
#: Queues paused by an operator (``conveyor.broker.views.queue_state``): the claim script skips them.
PAUSED_KEY = "conveyor:paused"

#: Batches (``conveyor.broker.batches``): ``BATCH_PREFIX + id`` a hash (description, counters,
#: callbacks), ``BATCH_PREFIX + id + ":pending"`` the set of its pending job ids and ``+ ":jobs"`` a
#: hash of those that ended (job id -> state), each with a TTL; and
#: the index of batches, a sorted set (id -> created), trimmed by age and count.
BATCH_PREFIX = "conveyor:batch:"
BATCHES_KEY = "conveyor:batches"
#: A ``django.tasks`` result (``conveyor.django.backend``): one hash, its worker ids and errors JSON fields in it.
DJANGO_RESULT_PREFIX = "conveyor:django-task:"
#: kombu's Redis transport keeps priority ``n > 0`` of queue ``q`` in the list ``q\x06\x16n``.
PRIORITY_SEPARATOR = "\x06\x16"


def wake_key(queue: str) -> str:
    """The list an idle worker of ``queue`` waits on."""
    return WAKE_PREFIX + queue


def priority_queue_key(queue: str, priority: int) -> str:
    """The Redis list holding ``queue``'s messages of ``priority`` (kombu's layout)."""
    return queue if priority == 0 else f"{queue}{PRIORITY_SEPARATOR}{priority}"
