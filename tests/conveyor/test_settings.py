"""``conveyor.settings``: ``conveyor_*`` settings read from an app, queue name prefixes, masked URLs, Redis clients."""

from __future__ import annotations

import pytest
from celery import Celery

from conveyor.settings import MailSettings, Settings, forget, masked_url, prefixed_queue, redis_client, settings_for


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://user:s3cret@cache:6379/0", "redis://user:***@cache:6379/0"),
        ("redis://cache:6379/0?sentinel_password=s3cret", "redis://cache:6379/0?sentinel_password=***"),
        ("redis://cache:6379/0?PASSWORD=s3cret", "redis://cache:6379/0?PASSWORD=***"),
        ("redis://cache/0?token=s3cret&db=2&passwd=s3cret", "redis://cache/0?token=***&db=2&passwd=***"),
    ],
)
def test_every_secret_of_a_url_is_masked_and_the_rest_kept(url: str, shown: str) -> None:
    assert masked_url(url) == shown


@pytest.mark.parametrize("value", ["redis://:s3cret@[::1/0", "http://[::1/x"])
def test_a_url_that_cannot_be_parsed_is_not_shown_at_all(value: str) -> None:
    assert masked_url(value) == "<an unreadable URL>"


def test_a_password_beside_a_port_out_of_range_is_still_masked() -> None:
    assert masked_url("redis://:s3cret@cache:99999999/0") == "redis://:***@cache:99999999/0"


def test_nothing_is_shown_for_no_url() -> None:
    assert masked_url(None) == ""


def test_a_prefix_maps_a_queue_name_once() -> None:
    assert prefixed_queue("low", None) == "low"
    assert prefixed_queue("low", "production") == "production_low"
    assert prefixed_queue("production_low", "production") == "production_low"  # mapped twice: unchanged
    assert prefixed_queue("low", "staging", ".") == "staging.low"


def test_settings_are_read_from_the_apps_conveyor_settings() -> None:
    # Given an app with conveyor settings of its own
    app = Celery("settings", broker="redis://127.0.0.1:6379/0", set_as_current=False)
    app.conf.update(
        conveyor_log_arguments=False,
        conveyor_retry_jitter="0.5",
        conveyor_queue_name_prefix="production",
        conveyor_queue_name_delimiter="-",
        conveyor_dead_max_jobs="20",
        broker_transport_options={"socket_timeout": 1.5},
        conveyor_smtp_port="2525",
        conveyor_mail_backend="file",
    )
    # When they are read
    settings = Settings.from_app(app)
    # Then each is typed, and the queue names are prefixed
    assert (settings.log_arguments, settings.retry_jitter, settings.dead_max_jobs) == (False, 0.5, 20)
    assert settings.uses_redis
    assert settings.redis_socket_timeout == 1.5
    assert settings.queue("low") == "production-low"
    assert (settings.mail.backend, settings.mail.smtp_port) == ("file", 2525)


def test_mail_settings_default_to_a_local_smtp_server() -> None:
    assert MailSettings.from_conf({}) == MailSettings()
    assert MailSettings().smtp_host == "localhost"
    assert MailSettings().smtp_port is None  # the backend picks 25, or 465 with SSL


def test_settings_are_cached_on_the_app_until_forgotten() -> None:
    # Given settings read once
    app = Celery("cached", set_as_current=False)
    first = settings_for(app)
    app.conf.conveyor_retry_jitter = 0.9
    # Then the cached ones are served until forget()
    assert settings_for(app) is first
    forget(app)
    assert settings_for(app).retry_jitter == 0.9


def test_conveyors_client_of_a_url_has_bounded_timeouts_and_the_callers_win() -> None:
    client = redis_client("redis://127.0.0.1:6379/0", socket_timeout=1.0)  # connects lazily: no Redis needed
    try:
        options = client.connection_pool.connection_kwargs
        assert options["socket_connect_timeout"] == 2.0
        assert options["socket_timeout"] == 1.0
    finally:
        client.close()


def test_a_broker_that_is_not_redis_is_refused_by_name() -> None:
    with pytest.raises(RuntimeError, match=r"conveyor needs a Redis broker here, not 'amqp://guest@rabbit//'"):
        redis_client("amqp://guest@rabbit//")
