"""Every ``conveyor_*`` setting, read from a Celery app's ``conf`` in one place, and the Redis clients.

Settings (all optional; the defaults and their reasons are in ``conveyor.defaults``):

======================================  ============  ==============================================
``conveyor_log_arguments``              True          log job arguments at enqueue and perform
``conveyor_retry_jitter``               0.15          default ``jitter`` of ``retry_on``
``conveyor_scheduled_threshold``        5             waits longer than this (s) use the scheduled set
``conveyor_scheduled_poll_interval``    5             longest sleep (s) of a worker's scheduled-set poller
``conveyor_dead_max_jobs``              10000         the dead set keeps at most this many jobs
``conveyor_dead_timeout``               180 days      and drops jobs older than this (seconds)
``conveyor_production``                 False         refuse to start a worker on an evicting Redis
``conveyor_queue_name_prefix``          None          queues in Redis are ``<prefix>_<name>`` (ActiveJob's
                                                      ``queue_name_prefix``; ``conveyor.validation``)
``conveyor_queue_name_delimiter``       ``_``         between the prefix and the name
``conveyor_schedule_file``              schedule.yaml the cron schedule beat syncs into redbeat
``conveyor_mail_backend``               smtp          smtp, file, console or test
``conveyor_mail_default_from``          None          a mailer's sender when it names none
``conveyor_mail_file_dir``              var/mail      where the file backend writes
``conveyor_smtp_host`` / ``_port``      localhost     the SMTP server (port: 465 with ssl, else 25)
``conveyor_smtp_username`` / ``_password``  None      SMTP login, if any
``conveyor_smtp_starttls`` / ``_ssl``   False         TLS upgrade, or TLS from the start
``conveyor_smtp_timeout``               10            seconds, per SMTP operation
======================================  ============  ==============================================

Queue and priority defaults are Celery's own ``task_default_queue`` and
``task_default_priority``, so there is one place to set each.

``settings_for(app)`` is cached on the app (the hot path reads it per job) and dropped by
``conveyor.configure``/``forget``; ``Settings.from_app(app)`` reads afresh (cold paths:
a worker starting, a mail being delivered).

Example::

    settings = settings_for(app)
    settings.scheduled_threshold        # 5.0
    client = redis_client(app)          # the broker's Redis, with conveyor's timeouts
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from celery import Celery

from conveyor.defaults import (
    DEAD_MAX_JOBS,
    DEAD_TIMEOUT,
    DEFAULT_JITTER,
    DEFAULT_SCHEDULED_THRESHOLD,
    REDIS_CONNECT_TIMEOUT_S,
    REDIS_SOCKET_TIMEOUT_S,
    SCHEDULE_FILE,
    SCHEDULED_POLL_INTERVAL_S,
    SMTP_TIMEOUT_S,
    is_redis_url,
)
from conveyor.sentinel import SCHEME as SENTINEL_SCHEME
from conveyor.sentinel import SentinelTarget, parse_sentinel_url

__all__ = ["MailSettings", "Settings", "forget", "masked_url", "prefixed_queue", "redis_client", "settings_for"]

_CACHE_ATTR = "_conveyor_settings"


@dataclass(frozen=True, slots=True)
class MailSettings:
    """``conveyor_mail_*`` and ``conveyor_smtp_*``."""

    backend: str = "smtp"
    default_from: str | None = None
    file_dir: str = "var/mail"
    smtp_host: str = "localhost"
    smtp_port: int | None = None
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = False
    smtp_ssl: bool = False
    smtp_timeout: float = SMTP_TIMEOUT_S

    @classmethod
    def from_conf(cls, conf: Any) -> MailSettings:
        port = conf.get("conveyor_smtp_port")
        return cls(
            backend=conf.get("conveyor_mail_backend") or "smtp",
            default_from=conf.get("conveyor_mail_default_from"),
            file_dir=conf.get("conveyor_mail_file_dir") or "var/mail",
            smtp_host=conf.get("conveyor_smtp_host") or "localhost",
            smtp_port=int(port) if port else None,
            smtp_username=conf.get("conveyor_smtp_username"),
            smtp_password=conf.get("conveyor_smtp_password"),
            smtp_starttls=bool(conf.get("conveyor_smtp_starttls")),
            smtp_ssl=bool(conf.get("conveyor_smtp_ssl")),
            smtp_timeout=float(conf.get("conveyor_smtp_timeout") or SMTP_TIMEOUT_S),
        )


def prefixed_queue(name: str, prefix: str | None, delimiter: str = "_") -> str:
    """``name`` as it is in Redis under ``prefix``: ``prefix + delimiter + name`` (unchanged without a prefix).

    ActiveJob's ``queue_name_prefix``: the names written in code and files (``queue_as``,
    ``set(queue=)``, ``retry_on(queue=)``, ``worker.yaml``, ``schedule.yaml``, the CLI, the app's
    ``task_default_queue``) map to these names in Redis where they enter conveyor. A name that
    already carries the prefix is left as it is, so mapping twice changes nothing.

    >>> prefixed_queue("low", "production")
    'production_low'
    """
    if not prefix:
        return name
    head = prefix + delimiter
    return name if name.startswith(head) else head + name


@dataclass(frozen=True, slots=True)
class Settings:
    """The values conveyor reads from one app."""

    default_queue: str
    default_priority: int | None
    log_arguments: bool
    retry_jitter: float
    #: Names of the queues in ``task_queues`` (what workers consume without -Q), or None if unset.
    known_queues: frozenset[str] | None
    #: Celery's ``task_send_sent_event`` (read here once: a conf lookup costs more than it seems).
    send_sent_event: bool
    #: Jobs store their result in the result backend (``conveyor_store_results``; a job's ``store_result`` wins).
    store_results: bool = False
    broker_url: str = ""
    #: The broker is Redis (the scheduled and dead sets live there).
    uses_redis: bool = False
    #: Waits longer than this (seconds) go to the scheduled set; shorter ones stay Celery ETA messages.
    scheduled_threshold: float = DEFAULT_SCHEDULED_THRESHOLD
    scheduled_poll_interval: float = SCHEDULED_POLL_INTERVAL_S
    dead_max_jobs: int = DEAD_MAX_JOBS
    dead_timeout: float = DEAD_TIMEOUT
    production: bool = False
    queue_name_prefix: str | None = None
    queue_name_delimiter: str = "_"
    schedule_file: str = SCHEDULE_FILE
    redis_connect_timeout: float = REDIS_CONNECT_TIMEOUT_S
    redis_socket_timeout: float = REDIS_SOCKET_TIMEOUT_S
    #: The Redis service behind Sentinel, when the app was configured with a ``redis+sentinel://`` URL.
    sentinel: SentinelTarget | None = None
    mail: MailSettings = MailSettings()

    def queue(self, name: str) -> str:
        """A queue name as written (code, files, CLI) to its name in Redis (``conveyor_queue_name_prefix``)."""
        if not self.queue_name_prefix:  # every enqueue comes through here: no call without a prefix
            return name
        return prefixed_queue(name, self.queue_name_prefix, self.queue_name_delimiter)

    @classmethod
    def from_app(cls, app: Celery) -> Settings:
        """Read the app's settings now (not cached)."""
        conf = app.conf
        transport = conf.broker_transport_options or {}
        return cls(
            default_queue=conf.task_default_queue,
            default_priority=conf.task_default_priority,
            log_arguments=bool(conf.get("conveyor_log_arguments", True)),
            store_results=bool(conf.get("conveyor_store_results", False)),
            retry_jitter=float(conf.get("conveyor_retry_jitter", DEFAULT_JITTER)),
            known_queues=frozenset(queue.name for queue in conf.task_queues) if conf.task_queues else None,
            send_sent_event=bool(conf.task_send_sent_event),
            broker_url=str(conf.broker_url or ""),
            uses_redis=is_redis_url(conf.broker_url),
            scheduled_threshold=float(conf.get("conveyor_scheduled_threshold", DEFAULT_SCHEDULED_THRESHOLD)),
            scheduled_poll_interval=float(conf.get("conveyor_scheduled_poll_interval", SCHEDULED_POLL_INTERVAL_S)),
            dead_max_jobs=int(conf.get("conveyor_dead_max_jobs", DEAD_MAX_JOBS)),
            dead_timeout=float(conf.get("conveyor_dead_timeout", DEAD_TIMEOUT)),
            production=bool(conf.get("conveyor_production", False)),
            queue_name_prefix=conf.get("conveyor_queue_name_prefix") or None,
            queue_name_delimiter=str(conf.get("conveyor_queue_name_delimiter") or "_"),
            schedule_file=str(conf.get("conveyor_schedule_file") or SCHEDULE_FILE),
            redis_connect_timeout=float(transport.get("socket_connect_timeout", REDIS_CONNECT_TIMEOUT_S)),
            redis_socket_timeout=float(transport.get("socket_timeout", REDIS_SOCKET_TIMEOUT_S)),
            sentinel=_sentinel_target(conf),
            mail=MailSettings.from_conf(conf),
        )


def settings_for(app: Celery) -> Settings:
    """Return the app's conveyor settings, cached on the app.

    They are read on first use (the first enqueue or perform), after the app
    is configured; ``configure`` clears the cache.
    """
    cached: Settings | None = getattr(app, _CACHE_ATTR, None)
    if cached is None:
        cached = Settings.from_app(app)
        setattr(app, _CACHE_ATTR, cached)
    return cached


def forget(app: Celery) -> None:
    """Drop the cached settings, so the next use reads ``app.conf`` again."""
    if hasattr(app, _CACHE_ATTR):
        delattr(app, _CACHE_ATTR)


def masked_url(url: object) -> str:
    """``url`` with its password replaced by ``***`` (the netloc's and a ``password=`` query's), for messages and logs.

    Example::

        masked_url("redis://:s3cret@127.0.0.1:6379/0")            # 'redis://:***@127.0.0.1:6379/0'
        masked_url("redis://127.0.0.1:6379/0?password=s3cret")    # 'redis://127.0.0.1:6379/0?password=***'
    """
    text = str(url or "")
    try:
        parts = urlsplit(text)
        password = parts.password
    except ValueError:  # not a URL (an unbalanced bracket, a bad port): nothing of it is shown
        return "<an unreadable URL>"
    if password is not None:
        parts = parts._replace(netloc=parts.netloc.replace(f":{password}@", ":***@", 1))
    if parts.query:
        query = [
            (name, "***" if name.lower() in _SECRET_PARAMETERS else value)
            for name, value in parse_qsl(parts.query, keep_blank_values=True)
        ]
        parts = parts._replace(query=urlencode(query, safe="*"))
    return urlunsplit(parts) if password is not None or parts.query else text


# URL query parameters redis-py and kombu read a secret from.
_SECRET_PARAMETERS = frozenset({"password", "sentinel_password", "ssl_password", "passwd", "token"})


def _sentinel_target(conf: Any) -> SentinelTarget | None:
    url = conf.get("conveyor_redis_url")
    if not (isinstance(url, str) and url.startswith(SENTINEL_SCHEME)):
        return None
    return parse_sentinel_url(url, conf.get("conveyor_redis_sentinel_password"))


def redis_client(app_or_url: Celery | str, **options: Any) -> Any:
    """A client of the broker's Redis (or of ``url``) with conveyor's bounded timeouts.

    Every module that talks to Redis outside kombu builds its client here, so a timeout
    is set once (``broker_transport_options``) and a Redis that hangs never hangs a worker.
    Behind Sentinel (``redis+sentinel://``) it is a client of the current master, which asks
    the sentinels again after a failover; for a URL string, the sentinels' password is
    ``sentinel_password=`` or ``REDIS_SENTINEL_PASSWORD``.
    """
    import redis

    sentinel_password = options.pop("sentinel_password", None)
    if isinstance(app_or_url, str):
        url, timeouts = app_or_url, (REDIS_CONNECT_TIMEOUT_S, REDIS_SOCKET_TIMEOUT_S)
        target = None
        if url.startswith(SENTINEL_SCHEME):
            target = parse_sentinel_url(url, sentinel_password or os.environ.get("REDIS_SENTINEL_PASSWORD"))
    else:
        settings = Settings.from_app(app_or_url)
        url, timeouts = settings.broker_url, (settings.redis_connect_timeout, settings.redis_socket_timeout)
        target = settings.sentinel
    if target is not None:
        return target.client(
            options.pop("socket_connect_timeout", timeouts[0]), options.pop("socket_timeout", timeouts[1]), **options
        )
    if url.startswith("sentinel://"):
        raise RuntimeError(
            f"{masked_url(url.split(';')[0])} is kombu's Sentinel form: configure the app with a "
            f"{SENTINEL_SCHEME}host:port[,host:port]/service_name URL, conveyor derives kombu's from it"
        )
    if not is_redis_url(url):
        raise RuntimeError(f"conveyor needs a Redis broker here, not {url!r}")
    options.setdefault("socket_connect_timeout", timeouts[0])
    options.setdefault("socket_timeout", timeouts[1])
    return redis.Redis.from_url(url, **options)
