"""``perform_all_later``'s messages from a template: Celery's full path once per kind of job, not per job.

Building a Celery message per job (``create_task_message``, kombu's ``prepare_message``, two JSON
encodings of the whole envelope) cost ~60 µs, eight times the LPUSH that sends it. Jobs of one bulk
enqueue mostly differ only in their id, arguments and enqueue time: the first job of each kind
(class, queue, priority, executions) goes through the full path, and its envelope, encoded once,
becomes a template whose per-job fields are filled in as JSON text. What reaches Redis is byte for
byte what the full path sends for the same job (``tests/conveyor/jobs/test_bulk_template.py``
checks it); a job the template cannot express (scheduled, retried, resumed, @unique or limited)
takes the full path.

Example::

    templates = Templates(app, channel, adapter.message, _redis_envelope)
    key, envelope = templates.envelope(job.serialize())   # what kombu's Redis transport would LPUSH
"""

from __future__ import annotations

import base64
import datetime as dt
import itertools
import json
import uuid
from collections.abc import Callable
from typing import Any

from celery import Celery

from conveyor.jobs.app_lookup import current_worker_request
from conveyor.jobs.serialized import SerializedJob

__all__ = ["Templates"]

# Markers put where per-job values go; the template is the encoded envelope with each marker
# (as JSON text) replaced by a named %-format field.
_SLOTS = ("id", "root", "body", "tag", "enqueued", "args", "kwargs")
_ID, _ROOT, _BODY, _TAG, _ENQUEUED, _ARGS, _KWARGS = (f"\x00conveyor-{slot}\x00" for slot in _SLOTS)
_MARKERS = {json.dumps(f"\x00conveyor-{slot}\x00"): f"%({slot})s" for slot in _SLOTS}
_FILTERED = json.dumps("[FILTERED]")
# JSON text of a string, as kombu's encoder writes it (json's, ensure_ascii).
_quote = json.encoder.encode_basestring_ascii


class _Template:
    """One kind of job's envelope: JSON text with a %-format field per per-job value."""

    def __init__(self, key: str, text: str, body_tail: str) -> None:
        self.key, self.body_tail = key, body_tail
        text = text.replace("%", "%%")  # the envelope's own text is kept as is
        for quoted, field in _MARKERS.items():
            text = text.replace(quoted, field)
        self.format = text


class Templates:
    """The templates of one ``perform_all_later`` call (``reply_to`` and ``origin`` are the caller's)."""

    def __init__(
        self,
        app: Celery,
        channel: Any,
        message: Callable[[Celery, SerializedJob], tuple[str, Any, dict[str, Any]]],
        envelope: Callable[..., tuple[str, str]],
    ) -> None:
        # The full path's pieces come in as arguments (the adapter's message(), kombu's envelope),
        # so this module imports none of the modules that use it.
        from kombu.utils.json import JSONEncoder

        from conveyor.settings import settings_for

        self.app, self.channel = app, channel
        self._message, self._envelope = message, envelope
        self._made: dict[tuple[Any, ...], _Template] = {}
        self._log_arguments = settings_for(app).log_arguments
        parent = current_worker_request()  # a job enqueued by a job keeps Celery's root link
        self._root = _quote(parent.root_id or parent.id) if parent is not None else None
        # kombu's dumps makes a new encoder per call; one, made the same way, writes the same text
        # (the template's envelope and each job's arguments).
        self._encode: Callable[[Any], str] = JSONEncoder().encode
        # Delivery tags (kombu's unacknowledged-record keys): a random UUID4 per call whose last
        # 48 bits count the call's messages: unique, in UUID4 text form, without a uuid4() per job.
        random_hex = uuid.uuid4().hex
        self._tag_format = f'"{random_hex[:8]}-{random_hex[8:12]}-{random_hex[12:16]}-{random_hex[16:20]}-%012x"'
        self._last_time: dt.datetime | None = None
        self._last_time_text = "null"
        self._count = itertools.count(int(random_hex[20:], 16) & 0xFFFF_FFFF)

    def envelope(self, job: SerializedJob) -> tuple[str, str] | None:
        """(list key, envelope JSON) for ``job``, or None when only the full path can build it."""
        if not job.templatable:
            return None
        kind = job.kind
        template = self._made.get(kind)
        if template is None:
            template = self._made[kind] = self._make(job)  # from this job, by Celery's full path
        encode = self._encode
        body = "[" + encode(job.args) + ", " + encode(job.kwargs) + template.body_tail
        shown = job.log_arguments if job.log_arguments is not None else self._log_arguments
        quote = _quote
        job_id = quote(job.job_id)
        values = {  # each as JSON text
            "id": job_id,
            "root": job_id if self._root is None else self._root,
            "body": '"' + base64.b64encode(body.encode()).decode() + '"',
            "tag": self._tag_format % next(self._count),
            "enqueued": self._time_text(job.enqueued_at),
            "args": quote(repr(job.arguments)) if shown else _FILTERED,
            "kwargs": quote(repr(job.keyword_arguments)) if shown else _FILTERED,
        }
        return template.key, template.format % values

    def _time_text(self, at: dt.datetime | None) -> str:
        # perform_all_later gives its jobs one enqueue time: encoded once.
        if at is not self._last_time:
            self._last_time, self._last_time_text = at, _quote(at.isoformat()) if at is not None else "null"
        return self._last_time_text

    def _make(self, job: SerializedJob) -> _Template:
        name, message, options = self._message(self.app, job)
        key, text = self._envelope(self.app, self.channel, name, message, options)
        envelope = json.loads(text)
        headers, properties = envelope["headers"], envelope["properties"]
        body = base64.b64decode(envelope["body"]).decode()
        args, kwargs = message[2][0], message[2][1]
        head = "[" + self._encode(args) + ", " + self._encode(kwargs)
        if not body.startswith(head):  # not the layout this module fills in: never guess
            raise RuntimeError(f"unexpected Celery message body layout: {body[:80]!r}")
        headers["id"] = properties["correlation_id"] = _ID
        headers["root_id"] = _ROOT
        headers["argsrepr"], headers["kwargsrepr"] = _ARGS, _KWARGS
        headers["conveyor"]["enqueued_at"] = _ENQUEUED
        properties["delivery_tag"] = _TAG
        envelope["body"] = _BODY
        return _Template(key, self._encode(envelope), body[len(head) :])
