"""``conveyor.configure``: conveyor's Celery settings under the user's, the worker steps, the result backend."""

from __future__ import annotations

from celery import Celery, current_app

from conveyor.bootstrap import configure
from conveyor.broker.results import BACKEND
from conveyor.compat.worker import CompatCheck
from conveyor.defaults import CELERY_SETTINGS


def test_conveyors_settings_apply_and_the_users_overrides_win() -> None:
    # When an app is configured with overrides
    app = configure(
        Celery("bootstrap", set_as_current=False),
        default=False,
        worker_prefetch_multiplier=4,
        broker_transport_options={"socket_timeout": 1},
    )
    # Then conveyor's settings apply where the user gave none
    assert app.conf.task_acks_late is True
    assert app.conf.task_default_queue == "default"
    assert app.conf.worker_prefetch_multiplier == 4
    # And the transport options are merged key by key, the user's over conveyor's
    transport = app.conf.broker_transport_options
    assert transport["socket_timeout"] == 1
    assert transport["priority_steps"] == CELERY_SETTINGS["broker_transport_options"]["priority_steps"]


def test_redbeat_keeps_the_schedule_on_the_brokers_redis_unless_told_otherwise() -> None:
    follows = configure(Celery("beat", set_as_current=False), default=False, broker_url="redis://cache:6379/3")
    own = configure(
        Celery("beat-own", set_as_current=False),
        default=False,
        broker_url="redis://cache:6379/3",
        redbeat_redis_url="redis://beat:6379/0",
    )
    assert follows.conf.redbeat_redis_url == "redis://cache:6379/3"
    assert own.conf.redbeat_redis_url == "redis://beat:6379/0"


def test_the_default_queue_takes_the_queue_name_prefix() -> None:
    app = configure(Celery("prefixed", set_as_current=False), default=False, conveyor_queue_name_prefix="production")
    assert app.conf.task_default_queue == "production_default"


def test_default_false_leaves_the_process_default_app_alone() -> None:
    before = current_app._get_current_object()
    configure(Celery("not-default", set_as_current=False), default=False)
    assert current_app._get_current_object() is before


def test_a_redis_broker_gets_conveyors_consumer_worker_steps_and_result_backend() -> None:
    app = configure(Celery("redis-app", set_as_current=False), default=False, broker_url="redis://cache:6379/0")
    assert CompatCheck in app.steps["worker"]
    assert app.conf.worker_consumer == "conveyor.broker.fetch.consumer:Consumer"
    assert app.loader.override_backends["redis"] == BACKEND
    assert app.loader.override_backends["rediss"] == BACKEND


def test_another_broker_keeps_celerys_consumer_but_still_checks_the_private_names() -> None:
    app = configure(Celery("memory-app", set_as_current=False), default=False, broker_url="memory://")
    assert CompatCheck in app.steps["worker"]
    assert app.conf.worker_consumer != "conveyor.broker.fetch.consumer:Consumer"
    assert app.conf.get("redbeat_redis_url") is None
