"""Default values, with their units, in one place.

Two groups: the defaults of conveyor's own declarations (``retry_on`` and
friends), and the Celery settings that ``conveyor.configure(app)`` applies
because jobs behave as users of ActiveJob and Sidekiq expect only with them.
"""

from __future__ import annotations

from typing import Any, Final

__all__ = [
    "BATCH_INDEX_MAX",
    "BATCH_MAX_JOBS",
    "BATCH_TTL_S",
    "CELERY_SETTINGS",
    "DEFAULT_ATTEMPTS",
    "DEFAULT_PRIORITY",
    "DEFAULT_JITTER",
    "DEFAULT_QUEUE",
    "DEFAULT_WAIT_S",
    "EVENT_BATCH_SIZE",
    "EVENT_FLUSH_INTERVAL_S",
    "HEARTBEAT_INTERVAL_S",
    "HEARTBEAT_TTL_S",
    "IDLE_WAIT_S",
    "MAX_WORKER_DEATHS",
    "MAX_PRIORITY",
    "MIN_PRIORITY",
    "PRIORITY_STEPS",
    "PROMOTION_REPLAY_S",
    "REDIS_CONNECT_TIMEOUT_S",
    "REDIS_SOCKET_TIMEOUT_S",
    "SCHEDULED_POLL_INTERVAL_S",
    "SCHEDULE_FILE",
    "SMTP_TIMEOUT_S",
    "VISIBILITY_TIMEOUT",
    "WORKER_DEATHS_TTL_S",
    "is_redis_url",
]

#: ``retry_on(wait=...)`` when not given, in seconds (ActiveJob: 3.seconds).
DEFAULT_WAIT_S: Final = 3
#: ``retry_on(attempts=...)``: executions including the first (ActiveJob: 5).
DEFAULT_ATTEMPTS: Final = 5
#: Fraction of the wait added at random so retries of many jobs spread out.
DEFAULT_JITTER: Final = 0.15
#: How long (s) Redis waits before it gives an unacknowledged message to another worker, for
#: messages no live conveyor worker owns (claimed by kombu's own fetch, e.g. with
#: ``global_keyprefix``, or by a worker older than super fetch). A message conveyor's fetch
#: claimed is never redelivered on time alone: see HEARTBEAT_TTL_S. One value for the broker
#: and the result backend.
VISIBILITY_TIMEOUT: Final = 3600
#: Super fetch (``conveyor.broker.fetch.owners``): a worker that has not refreshed its heartbeat for
#: this long (s) is dead, and the jobs it held go back to their queues. 30 s, not Sidekiq's 60:
#: with the recovery check below, a killed worker's jobs are back within HEARTBEAT_TTL_S +
#: RECOVERY_INTERVAL_S (35 s), inside the one minute we promise; six missed refreshes in a row
#: (a thread of the worker's main process, which runs no job code under prefork) is not a hiccup.
HEARTBEAT_TTL_S: Final = 30.0
#: How often (s) each worker refreshes its heartbeat and looks for dead owners (one round trip).
HEARTBEAT_INTERVAL_S: Final = 5.0
#: An idle worker waits on its queues' wake-up lists (``BLPOP conveyor:wake:<queue>``, pushed with
#: every message conveyor sends, restores or releases) and claims as soon as a token comes; after
#: IDLE_WAIT_S (s) without one it claims anyway, so a message sent with no wake-up (a producer that
#: does not use conveyor's transport, an entry pushed by hand) waits at most this long. That
#: look costs Redis three commands (the wait, the script, one EXISTS over every queue list): at 5 s an
#: idle worker's fetch costs ~36 commands a minute, where a claim every second cost 300 (plain
#: Celery's idle BRPOP: ~50). Override per app with ``broker_transport_options={"conveyor_idle_wait": s}``.
IDLE_WAIT_S: Final = 5.0
#: After a Sentinel promotion, a worker makes its claims and acknowledgements of the last
#: PROMOTION_REPLAY_S (s) again on the new master (``conveyor.broker.fetch.promotion``): the old
#: master took them until the worker followed the promotion, and they vanished with it. That is
#: about half a second when the worker hears ``+switch-master`` (measured here); a worker that did
#: not hear it leaves the old master at its demotion, which Sentinel sends 8 s after it first sees
#: the old master still acting as one, at its next INFO (every 10 s): 10.3 s measured, up to ~18 s.
#: Claims made earlier were replicated; sending them again changes nothing.
PROMOTION_REPLAY_S: Final = 30.0
#: Task events (for Flower) leave a worker in batches (``conveyor.broker.event_batches``): every
#: EVENT_FLUSH_INTERVAL_S (s), or as soon as EVENT_BATCH_SIZE events wait. One PUBLISH per event
#: cost a third of a worker's throughput; Flower sees an event at most this much later.
EVENT_FLUSH_INTERVAL_S: Final = 0.1
EVENT_BATCH_SIZE: Final = 100
#: A job whose worker died this many times while running it goes to the dead set instead of
#: being run again (a job that kills its process would otherwise kill worker after worker).
MAX_WORKER_DEATHS: Final = 3
#: How long (s) a job's death count is kept: deaths further apart than a day are not a pattern.
WORKER_DEATHS_TTL_S: Final = 24 * 3600
#: Waits longer than this (s) are kept in the scheduled set (``conveyor.broker.scheduled.scheduled_set``);
#: shorter ones stay Celery ETA messages. Must be well under VISIBILITY_TIMEOUT.
DEFAULT_SCHEDULED_THRESHOLD: Final = 5.0
#: The dead set keeps at most this many jobs, for at most this long (Sidekiq's values).
#: A batch's keys live this long after their last change (s): as long as a dead job is kept by
#: default would be 180 days of every job id; 30 days (Sidekiq Pro's batch expiry) covers a
#: retry_dead() weeks after a failure, and a finished batch of 10,000 jobs holds ~1 MB until then.
BATCH_TTL_S: Final = 30 * 24 * 3600
#: The most jobs one batch may hold (its members' hash is read whole by nobody, but it is kept whole).
BATCH_MAX_JOBS: Final = 1_000_000
#: The most batches the index (the CLI's and the Batches page's list) keeps; older ones drop out of it.
BATCH_INDEX_MAX: Final = 100_000
DEAD_MAX_JOBS: Final = 10_000
DEAD_TIMEOUT: Final = 180 * 24 * 3600
#: The longest (s) a worker's scheduled-set poller sleeps: it wakes when the next entry is due, and at
#: least every 2.5-5 s (half to all of this, so workers spread their polls) to see entries added
#: meanwhile. Never longer than the threshold: an entry is due more than the threshold after it is
#: added, so it is seen before it is due. (It was a poll every second: ~180 Redis commands a minute
#: per idle worker.)
SCHEDULED_POLL_INTERVAL_S: Final = 5.0
#: conveyor's own Redis clients (dead set, scheduled poller, eviction check, Flower's
#: queue depths) fail in seconds rather than hang when Redis does not answer.
REDIS_CONNECT_TIMEOUT_S: Final = 2.0
REDIS_SOCKET_TIMEOUT_S: Final = 5.0
#: The cron schedule beat syncs into redbeat, relative to the working directory.
SCHEDULE_FILE: Final = "schedule.yaml"
#: Seconds per SMTP operation before a delivery fails (and is retried).
SMTP_TIMEOUT_S: Final = 10.0


def is_redis_url(url: object) -> bool:
    """The URL names a Redis server (where the scheduled and dead sets live), directly or through Sentinel."""
    return str(url or "").startswith(("redis://", "rediss://", "unix://", "redis+sentinel://", "sentinel://"))


#: Message priorities: 0 is the most urgent, as on kombu's Redis transport.
MIN_PRIORITY: Final = 0
MAX_PRIORITY: Final = 9
#: Queue of a job that declares none and runs on an app that names none.
DEFAULT_QUEUE: Final = "default"
#: Priority of a job that declares none: the middle, so 0-4 run before it and 6-9 after.
#: (kombu on Redis treats a message without priority as 0, the most urgent.)
DEFAULT_PRIORITY: Final = 5
#: One Redis list per priority and queue, so all ten priorities are distinct
#: (kombu's default steps [0, 3, 6, 9] would merge 1-3, 4-6 and 7-9). Producers
#: and workers must agree on this, which is why it is a default and not a worker option.
PRIORITY_STEPS: Final = list(range(MIN_PRIORITY, MAX_PRIORITY + 1))

#: Celery settings applied by ``conveyor.configure(app)``. Each has a reason:
CELERY_SETTINGS: Final[dict[str, Any]] = {
    # Arguments travel as JSON; pickle would run code chosen by whoever can
    # write to the broker.
    "task_serializer": "json",
    "result_serializer": "json",
    "accept_content": ["json"],
    "result_accept_content": ["json"],
    # Jobs go to "default" unless they say otherwise (Celery's is "celery").
    "task_default_queue": DEFAULT_QUEUE,
    "task_default_priority": DEFAULT_PRIORITY,
    # A message is acknowledged after the job ran, so a worker that dies
    # mid-job does not lose it (it is delivered again).
    "task_acks_late": True,
    # A pool child killed mid-job (OOM, kill -9) sends the job again as a retry
    # (Celery 5.7) instead of marking it failed (Celery's default) or requeueing it
    # without counting (reject_on_worker_lost, which loops forever on a job that
    # kills its process every time); JobTask waits 1 s before that retry.
    "task_retry_on_worker_lost": True,
    # Shutdown: SIGTERM is a warm shutdown (running jobs finish). A cold shutdown
    # (SIGQUIT, a second Ctrl-C, or SIGTERM with REMAP_SIGTERM=SIGQUIT as the
    # Procfile sets) first gives running jobs this long to finish, then returns the
    # unfinished ones to their queue; "on idle" also applies it with no job running,
    # so prefetched messages are handed back cleanly.
    "worker_soft_shutdown_timeout": 10.0,
    "worker_enable_soft_shutdown_on_idle": True,
    # A worker holds one message per process beyond the ones it runs; with a
    # larger prefetch an urgent job waits behind jobs already fetched.
    "worker_prefetch_multiplier": 1,
    # Redis down at enqueue must surface as an error in seconds, not a hang:
    # bounded connect and socket timeouts, and a short publish retry.
    "broker_connection_timeout": REDIS_CONNECT_TIMEOUT_S,
    # Queues are fetched in the order listed (strict) unless config/worker.yaml gives
    # weights (conveyor.broker.fetch.queue_order); priority_steps: see PRIORITY_STEPS.
    "broker_transport_options": {
        # The same value for broker and results (below): a result key must not outlive
        # nor expire before the message it belongs to is given up.
        "visibility_timeout": VISIBILITY_TIMEOUT,
        "socket_connect_timeout": REDIS_CONNECT_TIMEOUT_S,
        "socket_timeout": REDIS_SOCKET_TIMEOUT_S,
        "queue_order_strategy": "priority",
        "priority_steps": PRIORITY_STEPS,
    },
    "result_backend_transport_options": {"visibility_timeout": VISIBILITY_TIMEOUT},
    "redis_socket_connect_timeout": REDIS_CONNECT_TIMEOUT_S,
    "redis_socket_timeout": REDIS_SOCKET_TIMEOUT_S,
    "task_publish_retry_policy": {
        "max_retries": 2,
        "interval_start": 0,
        "interval_step": 0.2,
        "interval_max": 0.5,
    },
    # Results keep name, args and queue so Flower and `celery result` can show them.
    "result_extended": True,
    # Task events let Flower follow jobs without extra flags.
    "worker_send_task_events": True,
    "task_send_sent_event": False,
    "broker_connection_retry_on_startup": True,
    # Beat on redbeat, synced from schedule.yaml (conveyor.schedule.beat). A short loop and lock
    # make a standby beat take over in about 30 s instead of redbeat's default 25 minutes.
    # "conveyor.beat:Scheduler" (0.1) still resolves (conveyor.moved).
    "beat_scheduler": "conveyor.schedule.beat:Scheduler",
    "beat_max_loop_interval": 5,
    "redbeat_lock_timeout": 30,
    "redbeat_redis_options": {
        "socket_connect_timeout": REDIS_CONNECT_TIMEOUT_S,
        "socket_timeout": REDIS_SOCKET_TIMEOUT_S,
    },
    "conveyor_schedule_file": SCHEDULE_FILE,
}
