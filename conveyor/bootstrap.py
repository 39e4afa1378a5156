"""``conveyor.configure(app)``: the one place that wires conveyor's parts into a Celery app.

Every other module is a part (jobs, broker, schedule, mail, web) that knows nothing of
the others above it; this module composes them: Celery settings with their reasons
(``conveyor.defaults``), the worker's bootsteps (scheduled-set poller, eviction check,
compat check, stopping flag), the consumer and transport that keep bad messages in the dead set, and
the failure signal that records dead jobs. It checks first that the installed Celery,
kombu and redbeat still have the private names conveyor builds on (``conveyor.compat``).

Example::

    app = Celery("app")
    conveyor.configure(app, broker_url="redis://localhost:6379/0",
                       conveyor_log_arguments=False)
"""

from __future__ import annotations

from typing import Any

from celery import Celery

from conveyor import compat
from conveyor.compat import celery as celery_compat
from conveyor.defaults import CELERY_SETTINGS, HEARTBEAT_INTERVAL_S, HEARTBEAT_TTL_S, VISIBILITY_TIMEOUT, is_redis_url
from conveyor.errors import ConfigurationError
from conveyor.sentinel import SCHEME as SENTINEL_SCHEME
from conveyor.sentinel import SentinelTarget, parse_sentinel_url
from conveyor.settings import Settings, forget, settings_for

__all__ = ["Settings", "configure", "forget", "settings_for"]


def configure(app: Celery, *, default: bool = True, **overrides: Any) -> Celery:
    """Apply conveyor's recommended Celery settings, then ``overrides``.

    See ``conveyor.defaults.CELERY_SETTINGS`` for each setting and its reason.
    ``default`` makes ``app`` the process's default app, so jobs enqueued from any
    thread use it (Celery's "current app" is otherwise per thread, and threads that
    never set one get an unconfigured app pointing at amqp://localhost).
    Raises ``CompatibilityError`` if an installed dependency lacks a name conveyor uses.

    Example::

        app = conveyor.configure(Celery("app"), broker_url=settings.broker_url)
    """
    compat.check_core()
    celery_compat.check_app(app)
    transport = {**CELERY_SETTINGS["broker_transport_options"], **overrides.pop("broker_transport_options", {})}
    broker = overrides.get("broker_url") or ""
    if str(broker).startswith(SENTINEL_SCHEME):
        _follow_sentinel(overrides, transport)
    elif "redbeat_redis_url" not in overrides and is_redis_url(broker):
        # redbeat stores the schedule on the broker's Redis unless told otherwise.
        overrides["redbeat_redis_url"] = broker
    app.conf.update({**CELERY_SETTINGS, "broker_transport_options": transport, **overrides})
    # conveyor_queue_name_prefix: plain Celery tasks and jobs without queue_as go to the prefixed default too.
    app.conf.task_default_queue = Settings.from_app(app).queue(app.conf.task_default_queue)
    _check_scheduled_threshold(app)
    _check_heartbeat(app)
    _add_worker_steps(app)
    _stop_event_loop_at_shutdown()
    _use_result_backend(app)
    if str(broker).startswith(SENTINEL_SCHEME):
        _follow_master_switches(app)
    forget(app)
    if default:
        app.set_default()
    return app


def _stop_event_loop_at_shutdown() -> None:
    """Each process's event loop for async jobs (started by its first one) ends with the process.

    A prefork child ends with ``os._exit`` (no atexit): ``worker_process_shutdown`` runs the
    ``@on_loop_stop`` functions there; ``worker_shutdown`` in a threads or solo worker, after its
    warm shutdown let the running jobs finish.
    """
    from celery import signals

    from conveyor.jobs.event_loop import stop_process_loop

    def stop(**_: Any) -> None:
        stop_process_loop()

    for signal in (signals.worker_process_shutdown, signals.worker_shutdown):
        signal.connect(stop, weak=False, dispatch_uid="conveyor.event_loop.stop")


def _follow_sentinel(overrides: dict[str, Any], transport: dict[str, Any]) -> None:
    """Derive every component's Redis settings from one ``redis+sentinel://`` URL (``conveyor.sentinel``).

    kombu's broker, Celery's result backend and redbeat each read Sentinel settings their own way;
    given conveyor's URL for any of them, each gets its own form, so none keeps a demoted master.
    """
    url = str(overrides["broker_url"])
    password = overrides.get("conveyor_redis_sentinel_password")
    timeouts = (float(transport["socket_connect_timeout"]), float(transport["socket_timeout"]))
    target = parse_sentinel_url(url, password)
    overrides["conveyor_redis_url"] = url  # conveyor's own clients (conveyor.settings.redis_client)
    overrides["broker_url"] = target.kombu_url()
    transport.update(target.kombu_options(*timeouts))
    # The result backend and redbeat follow the broker's URL unless given their own (Sentinel or not).
    results = _sentinel_of(overrides.get("result_backend"), password)
    if results is not None:
        overrides["result_backend"] = results.kombu_url()
        _merge(overrides, "result_backend_transport_options", results.kombu_options(*timeouts))
    beat = _sentinel_of(overrides.get("redbeat_redis_url", url), password)
    if beat is not None:
        # redbeat takes its Sentinel branch for a redis-sentinel:// URL with `sentinels` in its options.
        overrides["redbeat_redis_url"] = beat.redbeat_url()
        _merge(overrides, "redbeat_redis_options", beat.redbeat_options(*timeouts))


def _follow_master_switches(app: Celery) -> None:
    """Celery's result backend and redbeat follow a Sentinel promotion at once, as conveyor's clients do.

    Their pools are made by Celery and redbeat, lazily: they are handed to ``conveyor.master_switches``
    when a worker (and each pool process) or beat starts.
    """
    from celery import signals

    def follow_backend(**_: Any) -> None:
        from conveyor.master_switches import follow

        client = getattr(app.backend, "client", None)
        if client is not None:
            follow(client.connection_pool)

    def follow_redbeat(**_: Any) -> None:
        from redbeat.schedulers import get_redis

        from conveyor.master_switches import follow

        follow(get_redis(app).connection_pool)

    for signal in (signals.worker_init, signals.worker_process_init, signals.beat_init):
        signal.connect(follow_backend, weak=False, dispatch_uid=f"conveyor.switches.backend.{id(app)}")
    signals.beat_init.connect(follow_redbeat, weak=False, dispatch_uid=f"conveyor.switches.redbeat.{id(app)}")


def _sentinel_of(url: Any, password: str | None) -> SentinelTarget | None:
    return parse_sentinel_url(url, password) if isinstance(url, str) and url.startswith(SENTINEL_SCHEME) else None


def _merge(overrides: dict[str, Any], name: str, derived: dict[str, Any]) -> None:
    # What conveyor derives, under what the user gave for the same setting.
    overrides[name] = {**derived, **overrides.get(name, {})}


def _check_scheduled_threshold(app: Celery) -> None:
    threshold = Settings.from_app(app).scheduled_threshold
    visibility = float((app.conf.broker_transport_options or {}).get("visibility_timeout", VISIBILITY_TIMEOUT))
    if threshold * 2 > visibility:
        # An ETA message waiting longer than the visibility timeout is delivered again (kombu#337).
        raise ConfigurationError(
            f"conveyor_scheduled_threshold ({threshold:g} s) must be under half the broker's visibility_timeout "
            f"({visibility:g} s): longer waits must go to the scheduled set. Lower the threshold."
        )


def _check_heartbeat(app: Celery) -> None:
    options = app.conf.broker_transport_options or {}
    ttl = options.get("conveyor_heartbeat_ttl", HEARTBEAT_TTL_S)
    interval = options.get("conveyor_heartbeat_interval", HEARTBEAT_INTERVAL_S)
    for name, value in (("conveyor_heartbeat_ttl", ttl), ("conveyor_heartbeat_interval", interval)):
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            raise ConfigurationError(
                f"broker_transport_options {name} must be a positive number of seconds, not {value!r}"
            )
    if interval * 2 > ttl:
        # One late refresh would make a live worker look dead, and its jobs would run twice.
        raise ConfigurationError(
            f"broker_transport_options conveyor_heartbeat_interval ({interval:g} s) must be at most half of "
            f"conveyor_heartbeat_ttl ({ttl:g} s), so one late heartbeat does not make a live worker look dead"
        )


def _use_result_backend(app: Celery) -> None:
    # redis:// and rediss:// results are stored in one round trip (conveyor.broker.results), for this
    # app only; a user's own override_backends (a config object's) wins.
    from conveyor.broker.results import BACKEND

    app.loader.override_backends = {"redis": BACKEND, "rediss": BACKEND, **app.loader.override_backends}


def _add_worker_steps(app: Celery) -> None:
    # Every worker of the app checks the dependencies' private names, polls the scheduled set
    # and checks Redis' eviction policy.
    from conveyor.broker.event_batches import EventBatches
    from conveyor.broker.eviction import EvictionCheck
    from conveyor.broker.scheduled.scheduled_set import SchedulePoller
    from conveyor.compat.worker import CompatCheck
    from conveyor.jobs.stopping import StoppingFlag

    # StoppingFlag: continuable jobs learn, in any pool process, that their worker is stopping.
    app.steps["worker"].update({CompatCheck, SchedulePoller, EvictionCheck, StoppingFlag})
    # Task events for Flower in batches, one message per 0.1 s instead of one per event.
    app.steps["consumer"].add(EventBatches)
    if is_redis_url(app.conf.broker_url):
        from celery import signals

        from conveyor.broker.fetch.reliable_fetch import install
        from conveyor.jobs.failures import record_task_failure

        # Bad messages and failed jobs go to the dead set (conveyor.broker.fetch.consumer, conveyor.jobs.failures).
        app.conf.worker_consumer = "conveyor.broker.fetch.consumer:Consumer"
        install()  # redis:// and rediss:// use conveyor's transport: unparsable entries do not stop workers
        signals.task_failure.connect(record_task_failure, weak=False, dispatch_uid="conveyor.dead")
