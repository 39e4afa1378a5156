"""Sending jobs straight to kombu's Redis lists: ``perform_all_later``'s bulk path, the scheduled set's envelopes.

Example::

    send_chunk = _lean_redis_sender(app)      # None where it does not apply
    duplicates = send_chunk(prepared)         # {job id: holder id} for @unique jobs refused
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from celery import Celery

from conveyor.broker.controls import UNIQUE_HEADER, UNIQUE_PUT, UNIQUE_PUT_SHA
from conveyor.broker.reliable_fetch import wake
from conveyor.compat import kombu as kombu_compat
from conveyor.defaults import is_redis_url
from conveyor.wire import wake_key

if TYPE_CHECKING:
    from conveyor.jobs.job import Job

__all__ = ["_lean_redis_sender", "_redis_envelope"]


def _lean_redis_sender(app: Celery) -> Any:
    """A bulk sender that builds kombu's Redis messages and LPUSHes a chunk in one pipeline.

    kombu's ``Producer.publish`` costs ~50 µs per message in routing, retry wrappers and
    entity handling that a batch to known queues does not need; this path keeps kombu's own
    message preparation (``prepare_message``, ``_inplace_augment_message``, its priority
    keys) and Celery's publish signals, so workers see exactly what ``publish`` would send.
    It is used only where it applies (kombu's Redis transport, no task-sent events);
    otherwise None and the generic batch path runs.
    """
    from celery import signals

    if app.conf.task_send_sent_event or not is_redis_url(app.conf.broker_url):
        return None
    after = signals.after_task_publish

    def send_chunk(chunk: Sequence[tuple[Job, str, Any, dict[str, Any]]]) -> dict[str, str]:
        """Send the chunk in one pipeline; the @unique jobs refused, by job id (with the holder's id)."""
        with app.producer_or_acquire(None) as producer:
            channel = producer.channel
            kombu_compat.check_redis_channel(channel)
            for *_, options in chunk:
                if options.get("declare") != []:  # the first message of a queue new to this process
                    maybe_declare = producer.maybe_declare
                    maybe_declare(app.amqp.queues[options["queue"]])
            with channel.conn_or_acquire() as client, client.pipeline(transaction=False) as pipe:
                if any(UNIQUE_HEADER in options["headers"] for *_, options in chunk):
                    client.script_load(UNIQUE_PUT)  # EVALSHA in a pipeline cannot fall back to EVAL
                per_queue: dict[str, int] = {}
                unique_at: dict[int, str] = {}  # pipeline position -> job id
                for job, name, message, options in chunk:
                    key, envelope = _redis_envelope(app, channel, name, message, options)
                    uniq = options["headers"].get(UNIQUE_HEADER)
                    if uniq is not None:  # the lock and the message in one script, in the same pipeline
                        unique_at[len(pipe.command_stack)] = job.job_id
                        pipe.evalsha(UNIQUE_PUT_SHA, 3, uniq["key"], key, wake_key(options["queue"]), job.job_id,
                                     uniq["ttl_ms"], envelope)  # fmt: skip
                    else:
                        pipe.lpush(key, envelope)
                        per_queue[options["queue"]] = per_queue.get(options["queue"], 0) + 1
                    if after.receivers:
                        after.send(sender=name, body=message[2], headers=message[0], exchange="",
                                   routing_key=options["queue"])  # fmt: skip
                for queue, count in per_queue.items():
                    wake(pipe, queue, count)  # idle workers wait on these (conveyor.broker.reliable_fetch)
                replies = pipe.execute()
        return {job_id: replies[at].decode() for at, job_id in unique_at.items() if isinstance(replies[at], bytes)}

    return send_chunk


def _redis_envelope(app: Celery, channel: Any, name: str, message: Any, options: dict[str, Any]) -> tuple[str, str]:
    """The list key and JSON envelope kombu's Redis transport would LPUSH for this Celery message.

    Built with kombu's own ``prepare_message``, ``_inplace_augment_message`` and priority
    keys, so a worker receives exactly what ``Producer.publish`` would have sent.
    """
    from celery import signals
    from kombu.serialization import dumps as serialize

    headers, properties, body, _sent_event = message
    headers.update(options["headers"])
    queue = options["queue"]
    content_type, content_encoding, data = serialize(body, serializer=app.conf.task_serializer)  # type: ignore[no-untyped-call]
    properties = {**properties, "delivery_mode": 2}
    before = signals.before_task_publish
    if before.receivers:
        before.send(sender=name, body=body, exchange="", routing_key=queue, declare=[],
                    headers=headers, properties=properties, retry_policy=None)  # fmt: skip
    return kombu_compat.redis_envelope(
        channel, data, options.get("priority"), content_type, content_encoding, headers, properties, queue
    )
