"""``conveyor.compat.kombu``: the names of kombu's Redis transport the reliable fetch and bulk enqueue build on."""

from __future__ import annotations

import json
from typing import Any

import pytest
from celery import Celery
from kombu.transport import redis as kombu_redis

import conveyor
from conveyor.compat import kombu as kombu_compat
from conveyor.errors import CompatibilityError
from tests.conftest import TEST_REDIS_URL


def test_a_renamed_kombu_method_makes_configure_fail_naming_version_and_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(kombu_redis.Channel, "_brpop_start")
    with pytest.raises(CompatibilityError) as raised:
        conveyor.configure(Celery("compat"), default=False, broker_url=TEST_REDIS_URL)
    message = str(raised.value)
    assert f"kombu {kombu_compat.GUARD.version()} has no kombu.transport.redis.Channel._brpop_start" in message
    assert "tested with kombu >=5.7,<5.8" in message


@pytest.mark.redis  # opens a broker connection
def test_a_reliable_fetch_channel_checks_kombus_instance_state(
    celery_app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(kombu_compat, "CHANNEL_INSTANCE_READS", (*kombu_compat.CHANNEL_INSTANCE_READS, "_renamed"))
    with celery_app.connection_for_write() as connection, pytest.raises(CompatibilityError, match="no _renamed"):
        connection.default_channel  # noqa: B018 - opening the channel is the act under test


def test_a_producer_channel_that_is_not_kombus_redis_channel_is_refused() -> None:
    class MemoryChannel:
        def prepare_message(self) -> None: ...

    with pytest.raises(CompatibilityError, match=r"no _inplace_augment_message, _q_for_pri, conn_or_acquire\."):
        kombu_compat.check_redis_channel(MemoryChannel())


def test_a_registered_transport_is_what_kombu_resolves_the_scheme_to(monkeypatch: pytest.MonkeyPatch) -> None:
    from kombu.transport import TRANSPORT_ALIASES, resolve_transport

    monkeypatch.setitem(TRANSPORT_ALIASES, "conveyor-test", "kombu.transport.memory:Transport")  # put back after
    kombu_compat.register_transport("conveyor-test", "conveyor.broker.fetch.reliable_fetch:Transport")
    assert resolve_transport("conveyor-test").__module__ == "conveyor.broker.fetch.reliable_fetch"


@pytest.mark.redis  # opens a broker connection
def test_the_envelope_goes_to_kombus_list_for_its_priority_as_publish_would_send_it(celery_app: Any) -> None:
    # Given kombu's Redis channel of the pack's app
    with celery_app.connection_for_write() as connection:
        channel = connection.default_channel
        # When a message of priority 3 for queue "reports" is built
        key, envelope = kombu_compat.redis_envelope(
            channel, "{}", 3, "application/json", "utf-8", {"task": "t"}, {"correlation_id": "c1"}, "reports"
        )
    # Then it goes to kombu's list of that priority, with kombu's delivery info and our properties
    assert key == "reports\x06\x163"
    message = json.loads(envelope)
    assert message["headers"] == {"task": "t"}
    assert message["properties"]["priority"] == 3
    assert message["properties"]["correlation_id"] == "c1"
    assert message["properties"]["delivery_info"]["routing_key"] == "reports"
