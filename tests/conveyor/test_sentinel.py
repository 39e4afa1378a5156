"""One ``redis+sentinel://`` URL: parsed once, and each component's own form derived from it."""

from __future__ import annotations

from typing import Any

import pytest
from celery import Celery
from kombu.utils.url import maybe_sanitize_url

import conveyor
from conveyor.errors import ConfigurationError
from conveyor.sentinel import SentinelTarget, parse_sentinel_url
from conveyor.settings import masked_url, redis_client, settings_for

URL = "redis+sentinel://:data%40pw@10.0.0.1:26379,10.0.0.2:26380,[::1]/mymaster/3"


def test_the_url_names_sentinels_service_db_and_the_data_password() -> None:
    target = parse_sentinel_url(URL, "sentinel-pw")
    assert target == SentinelTarget(
        sentinels=(("10.0.0.1", 26379), ("10.0.0.2", 26380), ("::1", 26379)),
        service_name="mymaster",
        db=3,
        username=None,
        password="data@pw",
        sentinel_password="sentinel-pw",
    )
    assert parse_sentinel_url("redis+sentinel://127.0.0.1:26379/cache").db == 0
    assert parse_sentinel_url("redis+sentinel://app:pw@h:1/s").username == "app"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("redis+sentinel://10.0.0.1:26379", "names no service"),
        ("redis+sentinel://10.0.0.1:26379/", "names no service"),
        ("redis+sentinel://10.0.0.1:26379/mymaster/zero", "path is /service_name[/db], got /mymaster/zero"),
        ("redis+sentinel://10.0.0.1:port/mymaster", "port must be a number, got '10.0.0.1:port'"),
        ("redis+sentinel://10.0.0.1:26379,,10.0.0.2/mymaster", "empty host"),
        ("redis+sentinel://10.0.0.1:26379,redis://10.0.0.2:6379/mymaster", "mixes forms"),
        ("redis+sentinel://10.0.0.1:26379/mymaster;sentinel://10.0.0.2:26379", "mixes forms"),
        ("redis+sentinel://pw@10.0.0.1:26379/mymaster", "credentials must be ':password@'"),
        ("redis+sentinel://10.0.0.1:26379/mymaster?db=2", "takes no query"),
        ("sentinel://10.0.0.1:26379/mymaster", "starts with 'redis+sentinel://'"),
    ],
)
def test_a_malformed_url_is_one_line_naming_the_form(url: str, message: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        parse_sentinel_url(url)
    assert message in str(caught.value)
    assert "redis+sentinel://[:password@]host:port[,host:port…]/service_name[/db]" in str(caught.value)
    assert "\n" not in str(caught.value)


def _configured(**overrides: Any) -> Celery:
    return conveyor.configure(Celery("sentinel_test"), default=False, **overrides)


def test_configure_derives_the_broker_results_and_redbeat_forms_with_each_password() -> None:
    app = _configured(
        broker_url=URL,
        result_backend=URL,
        redbeat_redis_url=URL,
        conveyor_redis_sentinel_password="sentinel-pw",
    )
    conf = app.conf
    assert conf.broker_url == (
        "sentinel://:data%40pw@10.0.0.1:26379/3;sentinel://:data%40pw@10.0.0.2:26380/3;sentinel://:data%40pw@[::1]:26379/3"
    )
    sentinel_kwargs = {"password": "sentinel-pw", "socket_connect_timeout": 2.0, "socket_timeout": 5.0}
    assert conf.broker_transport_options["master_name"] == "mymaster"
    assert conf.broker_transport_options["sentinel_kwargs"] == sentinel_kwargs
    assert conf.broker_transport_options["visibility_timeout"] == 3600  # conveyor's own options stay
    assert conf.result_backend == conf.broker_url
    assert conf.result_backend_transport_options == {"master_name": "mymaster", "sentinel_kwargs": sentinel_kwargs}
    assert conf.redbeat_redis_url == "redis-sentinel://10.0.0.1:26379/3"  # what beat's banner shows
    assert maybe_sanitize_url(conf.redbeat_redis_url) == conf.redbeat_redis_url
    assert conf.redbeat_redis_options == {
        "sentinels": [["10.0.0.1", 26379], ["10.0.0.2", 26380], ["::1", 26379]],
        "service_name": "mymaster",
        "db": 3,
        "password": "data@pw",
        "socket_timeout": 5.0,
        "sentinel_kwargs": sentinel_kwargs,
    }
    settings = settings_for(app)
    assert settings.uses_redis
    assert settings.sentinel == parse_sentinel_url(URL, "sentinel-pw")


def test_redbeat_follows_the_broker_when_not_named_and_a_users_options_win() -> None:
    app = _configured(broker_url=URL, redbeat_redis_options={"socket_timeout": 9})
    assert app.conf.redbeat_redis_url.startswith("redis-sentinel://")
    assert app.conf.redbeat_redis_options["socket_timeout"] == 9
    assert app.conf.redbeat_redis_options["service_name"] == "mymaster"


def test_a_plain_result_backend_beside_a_sentinel_broker_is_left_as_given() -> None:
    app = _configured(broker_url=URL, result_backend="redis://127.0.0.1:6379/1")
    assert app.conf.result_backend == "redis://127.0.0.1:6379/1"


def test_conveyors_own_clients_ask_the_sentinels_for_the_master() -> None:
    app = _configured(broker_url=URL, conveyor_redis_sentinel_password="sentinel-pw")
    client = redis_client(app)
    pool = client.connection_pool
    assert (pool.service_name, pool.is_master) == ("mymaster", True)
    assert pool.connection_kwargs["password"] == "data@pw"
    assert pool.connection_kwargs["db"] == 3
    assert pool.connection_kwargs["socket_timeout"] == 5.0
    sentinels = [s.connection_pool.connection_kwargs for s in pool.sentinel_manager.sentinels]
    assert [(s["host"], s["port"]) for s in sentinels] == [("10.0.0.1", 26379), ("10.0.0.2", 26380), ("::1", 26379)]
    assert {s["password"] for s in sentinels} == {"sentinel-pw"}


def test_kombus_form_handed_to_conveyors_client_says_which_url_to_use() -> None:
    with pytest.raises(RuntimeError, match=r"kombu's Sentinel form: configure the app with a redis\+sentinel://"):
        redis_client("sentinel://:pw@10.0.0.1:26379/0;sentinel://10.0.0.2:26379/0")


def test_the_url_shows_without_its_password() -> None:
    assert masked_url(URL) == "redis+sentinel://:***@10.0.0.1:26379,10.0.0.2:26380,[::1]/mymaster/3"
