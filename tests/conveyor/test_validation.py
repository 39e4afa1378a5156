"""``conveyor.validation``: queue names and priorities, and the Redis keys no queue may be named after."""

from __future__ import annotations

from typing import Any

import pytest

from conveyor.errors import DeclarationError, WorkerConfigError
from conveyor.validation import RESERVED_PREFIXES, is_reserved, validate_priority, validate_queue_name


@pytest.mark.parametrize(
    "name",
    ["conveyor:dead", "_kombu.binding.default", "unacked_index", "redbeat:nightly", "celery-task-meta-1", "x.pidbox"],
)
def test_keys_that_are_not_queues_are_reserved(name: str) -> None:
    assert is_reserved(name)


@pytest.mark.parametrize("name", ["default", "low_priority", "conveyor", "kombu", "mail:out"])
def test_ordinary_names_are_not_reserved(name: str) -> None:
    assert not is_reserved(name)


@pytest.mark.parametrize("name", ["default", "low_priority", "mail.out", "tenant:42", "a-b", "x" * 200])
def test_a_valid_queue_name_is_returned_as_given(name: str) -> None:
    assert validate_queue_name(name, "queue_as") == name


@pytest.mark.parametrize("name", ["", "two words", "x" * 201, "caf\u00e9", None, 3])
def test_an_invalid_queue_name_is_refused_saying_what_is_accepted(name: Any) -> None:
    with pytest.raises(DeclarationError) as raised:
        validate_queue_name(name, "queue_as")
    assert str(raised.value) == (
        f"queue_as must be a queue name of 1-200 letters, digits, '_', '-', '.' or ':', but got {name!r}"
    )


@pytest.mark.parametrize("prefix", RESERVED_PREFIXES)
def test_a_reserved_name_is_refused_with_the_advice_to_choose_another(prefix: str) -> None:
    with pytest.raises(DeclarationError, match=r"queue_as must not name one of the Redis keys .* choose another"):
        validate_queue_name(f"{prefix}x" if prefix[-1] in ":-" else f"{prefix}.x", "queue_as")


def test_the_caller_chooses_the_error_class_and_the_place_named() -> None:
    with pytest.raises(WorkerConfigError, match=r"^config/worker\.yaml queues\[1\] must be a queue name"):
        validate_queue_name("no spaces", "config/worker.yaml queues[1]", WorkerConfigError)


@pytest.mark.parametrize("value", [0, 5, 9])
def test_a_priority_from_0_to_9_is_returned(value: int) -> None:
    assert validate_priority(value, "priority") == value


@pytest.mark.parametrize("value", [-1, 10, True, "5", 5.0, None])
def test_anything_else_is_refused_as_a_priority(value: Any) -> None:
    with pytest.raises(DeclarationError) as raised:
        validate_priority(value, "set(priority=)")
    assert str(raised.value) == (
        "set(priority=) must be an int from 0 (most urgent) to 9 (least), or None for the queue default, "
        f"but got {value!r}"
    )
