"""Arguments round-trip exactly; anything else fails at enqueue naming the argument."""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from conveyor import DeserializationError, SerializationError, register_serializer
from conveyor.serialization import deserialize, serialize, serialize_arguments


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


class Money:
    def __init__(self, amount: Decimal, currency: str) -> None:
        self.amount, self.currency = amount, currency

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Money) and (self.amount, self.currency) == (other.amount, other.currency)

    __hash__ = None  # type: ignore[assignment]


register_serializer(
    Money,
    serialize=lambda m: [m.amount, m.currency],
    deserialize=lambda v: Money(v[0], v[1]),
    name="tests.Money",
)

BERLIN = ZoneInfo("Europe/Berlin")
EXAMPLES: list[Any] = [
    None,
    True,
    0,
    -7,
    2**70,
    1.5,
    "text ü",
    [1, "a", None],
    (1, (2, 3), [4]),
    {"a": 1, "nested": {"b": [1, 2, (3,)]}},
    dt.datetime(2026, 3, 29, 1, 30, tzinfo=BERLIN),
    dt.datetime(2026, 11, 28, 12, 0, 0, 123456, tzinfo=dt.UTC),
    dt.datetime(2026, 11, 28, 12, 0, tzinfo=dt.timezone(dt.timedelta(hours=-5))),
    dt.datetime(2026, 11, 28, 12, 0),
    dt.date(2026, 2, 28),
    dt.time(23, 59, 58, 1),
    dt.time(8, 0, tzinfo=dt.UTC),
    dt.timedelta(days=-1, seconds=5, microseconds=7),
    Decimal("12.3400"),
    uuid.UUID("12345678-1234-5678-1234-567812345678"),
    Color.BLUE,
    Level.HIGH,
    Money(Decimal("9.99"), "EUR"),
    [Money(Decimal("1"), "USD"), {"when": dt.date(2026, 1, 1)}],
]


@pytest.mark.parametrize("value", EXAMPLES, ids=lambda v: type(v).__name__)
def test_supported_values_round_trip_with_exact_types(value: Any) -> None:
    import json

    wire = json.loads(json.dumps(serialize(value)))  # what the broker carries
    rebuilt = deserialize(wire)
    assert rebuilt == value
    assert type(rebuilt) is type(value)


def test_datetimes_keep_their_iana_zone_not_just_the_offset() -> None:
    value = dt.datetime(2026, 3, 28, 12, 0, tzinfo=BERLIN)
    rebuilt = deserialize(serialize(value))
    assert rebuilt.tzinfo == BERLIN
    # The zone, not a fixed offset, so arithmetic across the DST change stays right.
    assert (rebuilt + dt.timedelta(days=1)).utcoffset() == dt.timedelta(hours=2)


def test_json_scalars_travel_unchanged_so_flower_shows_them_as_they_are() -> None:
    assert serialize_arguments("Job", ("report_id",), (42, "x"), {"flag": True}) == ([42, "x"], {"flag": True})


def test_an_unsupported_object_names_the_argument_position_parameter_and_type() -> None:
    with pytest.raises(SerializationError) as caught:
        serialize_arguments("ReportJob", ("report_id", "owner"), (1, object()), {})
    message = str(caught.value)
    assert "ReportJob" in message
    assert "argument 2 (owner)" in message
    assert "builtins.object" in message
    assert "register_serializer" in message


def test_a_nested_unsupported_value_names_the_path_inside_the_argument() -> None:
    with pytest.raises(SerializationError, match=r"argument 'items'\[1\]\['at'\] is a builtins.object"):
        serialize_arguments("Job", (), (), {"items": [{}, {"at": object()}]})


def test_dict_keys_must_be_strings() -> None:
    with pytest.raises(SerializationError, match="key of type int"):
        serialize({1: "a"}, "argument 1")


def test_the_reserved_tag_key_is_refused_in_user_dicts() -> None:
    with pytest.raises(SerializationError, match="reserves"):
        serialize({"_cj": "tuple", "v": []}, "argument 1")


def test_builtin_tags_cannot_be_taken_by_a_registered_serializer() -> None:
    with pytest.raises(ValueError, match="reserved"):
        register_serializer(Money, serialize=str, deserialize=str, name="datetime")


def test_an_unknown_tag_in_the_worker_raises_deserialization_error() -> None:
    with pytest.raises(DeserializationError, match="no serializer named 'nope'"):
        deserialize({"_cj": "nope", "v": 1})


def test_a_failing_deserializer_is_reported_as_deserialization_error() -> None:
    with pytest.raises(DeserializationError, match="cannot rebuild"):
        deserialize({"_cj": "decimal", "v": "not a number"})
