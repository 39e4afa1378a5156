"""The scheduled set's move script and the deserializer keep hostile input out of the worker's way."""

from __future__ import annotations

import base64
import time
from typing import Any

import pytest
import redis

from conveyor import DeserializationError, register_serializer
from conveyor.broker.dead.dead_set import DeadSet
from conveyor.broker.scheduled import scheduled_set
from conveyor.serialization import deserialize


@pytest.mark.parametrize(
    "member",
    [b"{not json", b'{"key": 5, "message": "m"}', b'{"key": "q", "message": {"a": 1}}', b"[1, 2]", b'{"key": ""}'],
    ids=["not-json", "numeric-key", "object-message", "a-list", "empty-key"],
)
def test_a_malformed_scheduled_entry_ends_in_the_dead_set_and_the_valid_ones_move(
    redis_client: redis.Redis, member: bytes
) -> None:
    now = time.time()
    scheduled_set.add(redis_client, "q1", '{"n": 1}', now - 1, "good")
    redis_client.zadd(scheduled_set.SCHEDULED_KEY, {member: now - 1})

    assert scheduled_set.move_due(redis_client, now=now) == 2
    assert redis_client.lrange("q1", 0, -1) == [b'{"n": 1}']
    assert redis_client.zcard(scheduled_set.SCHEDULED_KEY) == 0
    assert redis_client.llen(scheduled_set.MALFORMED_KEY) == 0
    [record] = DeadSet(redis_client).list()
    assert base64.b64decode(record["raw_entry"]) == member
    assert record["reason"].startswith("malformed entry in the scheduled set")


def test_a_set_aside_entry_is_filed_by_the_next_poller_that_starts_if_the_first_could_not(
    redis_client: redis.Redis,
) -> None:
    from tests.conftest import TEST_REDIS_URL

    redis_client.rpush(scheduled_set.MALFORMED_KEY, b"{left over")  # a poller died between the two steps
    assert scheduled_set.move_due(redis_client) == 0  # a poll that sets nothing aside does not look there
    poller = scheduled_set.Poller(TEST_REDIS_URL)
    poller.start()  # a worker starting
    try:
        deadline = time.monotonic() + 5
        while DeadSet(redis_client).count() == 0:  # filed by the poller's thread
            assert time.monotonic() < deadline, "the left-over entry was not filed"
            time.sleep(0.02)
    finally:
        poller.stop()
    assert redis_client.llen(scheduled_set.MALFORMED_KEY) == 0


class Token:
    def __init__(self, value: str) -> None:
        self.value = value


def exit_on_load(value: Any) -> Token:
    raise SystemExit("a deserializer called exit")


register_serializer(Token, serialize=lambda token: token.value, deserialize=exit_on_load, name="security-token")


def test_a_deserializer_that_exits_becomes_a_deserialization_error() -> None:
    with pytest.raises(DeserializationError, match="SystemExit: a deserializer called exit"):
        deserialize({"_cj": "security-token", "v": "x"})


@pytest.mark.parametrize(
    ("title", "cell"),
    [
        ('=HYPERLINK("http://evil.example","x")', '"\'=HYPERLINK(""http://evil.example"",""x"")"'),
        ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("Q3, final", '"Q3, final"'),
        ("Quarterly", "Quarterly"),
    ],
)
def test_the_report_csv_neutralises_formulas_and_quotes_cells(title: str, cell: str) -> None:
    from app.mailers import report_csv
    from app.models import Report

    report = Report(id=7, title=title, status="completed")
    assert report_csv(report) == f"id,title,status\n7,{cell},completed\n"
