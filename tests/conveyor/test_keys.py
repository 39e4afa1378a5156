"""``conveyor.keys``: the key builders, and that no queue can be named like a key conveyor owns."""

from __future__ import annotations

from conveyor import keys
from conveyor.validation import is_reserved


def test_an_idle_worker_waits_on_the_wake_list_of_its_queue() -> None:
    assert keys.wake_key("low_priority") == "conveyor:wake:low_priority"


def test_priority_zero_is_the_queue_list_itself_and_others_follow_kombus_layout() -> None:
    assert keys.priority_queue_key("default", 0) == "default"
    assert keys.priority_queue_key("default", 3) == "default\x06\x163"
    assert keys.priority_queue_key("default", 9) == "default\x06\x169"


def test_every_key_and_prefix_conveyor_owns_is_reserved_so_no_queue_can_take_it() -> None:
    # Given every key and prefix constant of the module
    owned = [
        value
        for name in keys.__all__
        if isinstance(value := getattr(keys, name), str) and name not in {"PRIORITY_SEPARATOR"}
    ]
    # Then there are many, and each is a name validation refuses as a queue name
    assert len(owned) >= 15
    assert [key for key in owned if not key.startswith("conveyor:") or not is_reserved(key)] == []
