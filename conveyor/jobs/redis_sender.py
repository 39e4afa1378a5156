"""Sending jobs straight to kombu's Redis lists: ``perform_all_later``'s bulk path, the scheduled set's envelopes.

Example::

    sender = _lean_redis_sender(app, adapter)   # None where it does not apply
    entries = sender.prepare(jobs)              # every message built before anything is sent
    duplicates = sender.send(entries[:1000])    # {job id: holder id} for @unique jobs refused
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from celery import Celery

from conveyor.broker import replicas
from conveyor.broker.controls import UNIQUE_HEADER, UNIQUE_PUT
from conveyor.broker.fetch.reliable_fetch import wake
from conveyor.compat import kombu as kombu_compat
from conveyor.defaults import is_redis_url
from conveyor.jobs.bulk_template import Templates
from conveyor.jobs.serialized import SerializedJob
from conveyor.keys import WAKE_CAP, wake_key

__all__ = ["Entry", "LeanSender", "_lean_redis_sender", "_redis_envelope"]


#: A job ready to go: (job id, queue, list key, envelope JSON, its @unique header or None,
#: (task name, Celery message) for the after_task_publish signal or None).
Entry = tuple[str, str, str, str, Any, Any]


def _lean_redis_sender(app: Celery, adapter: Any) -> LeanSender | None:
    """The bulk sender for kombu's Redis transport, or None where it does not apply (task-sent events on,
    another broker): then the generic batch path runs."""
    if app.conf.task_send_sent_event or not is_redis_url(app.conf.broker_url):
        return None
    return LeanSender(app, adapter)


class LeanSender:
    """Builds kombu's Redis messages and LPUSHes a chunk in one pipeline.

    kombu's ``Producer.publish`` costs ~50 µs per message in routing, retry wrappers and entity
    handling that a batch to known queues does not need. Messages come from a template per kind of
    job (``conveyor.jobs.bulk_template``) or, for the jobs a template cannot express and whenever a
    publish signal has receivers, from kombu's own message preparation with Celery's signals: either
    way workers see exactly what ``publish`` would send. Each list gets one multi-value LPUSH per
    chunk (same order as one LPUSH per message).
    """

    def __init__(self, app: Celery, adapter: Any) -> None:
        self.app, self.adapter = app, adapter

    def prepare(self, jobs: Iterable[SerializedJob]) -> list[Entry]:
        """Every job's message, built (and every argument serialized) before anything is sent."""
        from celery import signals

        app, adapter = self.app, self.adapter
        signalled = bool(signals.before_task_publish.receivers or signals.after_task_publish.receivers)
        entries: list[Entry] = []
        with app.producer_or_acquire(None) as producer:
            channel = producer.channel
            kombu_compat.check_redis_channel(channel)
            templates = None if signalled else Templates(app, channel, adapter.message, _redis_envelope)
            for job in jobs:
                ready = templates.envelope(job) if templates is not None else None
                if ready is not None:
                    entries.append((job.job_id, job.queue, ready[0], ready[1], None, None))  # type: ignore[arg-type]
                    continue
                name, message, options = adapter.message(app, job)
                key, envelope = _redis_envelope(app, channel, name, message, options)
                uniq = options["headers"].get(UNIQUE_HEADER)
                entries.append((job.job_id, options["queue"], key, envelope, uniq, (name, message)))
        return entries

    def send(self, chunk: Sequence[Entry]) -> dict[str, str]:
        """Send the chunk in one pipeline; the @unique jobs refused, by job id (with the holder's id)."""
        from celery import signals

        app, declared = self.app, self.adapter._declared
        after = signals.after_task_publish
        with app.producer_or_acquire(None) as producer:
            channel = producer.channel
            for queue in {entry[1] for entry in chunk}:
                if (id(app), queue) not in declared:  # a queue new to this process: declared once
                    producer.maybe_declare(app.amqp.queues[queue])
            with channel.conn_or_acquire() as client, client.pipeline(transaction=False) as pipe:
                if any(entry[4] is not None for entry in chunk):
                    UNIQUE_PUT.load(client)  # EVALSHA in a pipeline cannot fall back to EVAL
                per_queue: dict[str, int] = {}
                unique_at: dict[int, str] = {}  # pipeline position -> job id
                waiting: dict[str, list[str]] = {}  # list key -> envelopes, in order

                def push_waiting() -> None:
                    for key, envelopes in waiting.items():
                        pipe.lpush(key, *envelopes)
                    waiting.clear()

                for job_id, queue, key, envelope, uniq, published in chunk:
                    if uniq is not None:  # the lock and the message in one script, after what came before
                        push_waiting()
                        unique_at[len(pipe.command_stack)] = job_id
                        pipe.evalsha(
                            UNIQUE_PUT.sha,
                            3,
                            uniq["key"],
                            key,
                            wake_key(queue),
                            job_id,
                            uniq["ttl_ms"],
                            envelope,
                            WAKE_CAP,
                        )
                    else:
                        waiting.setdefault(key, []).append(envelope)
                        per_queue[queue] = per_queue.get(queue, 0) + 1
                    if published is not None and after.receivers:
                        name, message = published
                        after.send(sender=name, body=message[2], headers=message[0], exchange="", routing_key=queue)
                push_waiting()
                for queue, count in per_queue.items():
                    wake(pipe, queue, count)  # idle workers wait on these (conveyor.broker.fetch.reliable_fetch)
                wanted = replicas.of_channel(channel)
                durable = replicas.wait_command(pipe, wanted)
                replies = pipe.execute()
            declared.update((id(app), entry[1]) for entry in chunk)
            if durable:
                replicas.confirm(replies[-1], wanted, f"a chunk of {len(chunk)} job(s)")
        return {job_id: replies[at].decode() for at, job_id in unique_at.items() if isinstance(replies[at], bytes)}


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
        before.send(
            sender=name,
            body=body,
            exchange="",
            routing_key=queue,
            declare=[],
            headers=headers,
            properties=properties,
            retry_policy=None,
        )
    return kombu_compat.redis_envelope(
        channel, data, options.get("priority"), content_type, content_encoding, headers, properties, queue
    )
