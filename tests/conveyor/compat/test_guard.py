"""``conveyor.compat.guard``: a guard lists every private name an install lacks, and ``check`` fails naming them."""

from __future__ import annotations

import pytest
from kombu.transport import redis as kombu_redis

from conveyor import compat
from conveyor.compat import celery as celery_compat
from conveyor.compat import flower as flower_compat
from conveyor.compat import kombu as kombu_compat
from conveyor.compat import redbeat as redbeat_compat
from conveyor.compat import tornado as tornado_compat
from conveyor.compat.guard import Guard, check, require_attributes
from conveyor.errors import CompatibilityError

GUARDS = [celery_compat.GUARD, kombu_compat.GUARD, redbeat_compat.GUARD, flower_compat.GUARD, tornado_compat.GUARD]


@pytest.mark.parametrize("guard", GUARDS, ids=lambda guard: guard.distribution)
def test_the_installed_versions_have_every_guarded_name(guard: Guard) -> None:
    assert guard.missing() == []


def test_every_missing_name_is_listed_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    # Names kombu's Redis channel defines itself (an inherited one would still be there to override).
    monkeypatch.delattr(kombu_redis.Channel, "_brpop_read")
    monkeypatch.delattr(kombu_redis.Channel, "_q_for_pri")
    with pytest.raises(CompatibilityError) as raised:
        compat.check_core()
    assert "Channel._brpop_read" in str(raised.value)
    assert "Channel._q_for_pri" in str(raised.value)


def test_a_missing_module_is_reported_as_missing() -> None:
    guard = Guard("celery", "celery.no_such_module", {"": ("x",)})
    with pytest.raises(CompatibilityError, match=r"celery \S+ has no celery\.no_such_module"):
        check(guard)


def test_a_missing_owner_is_reported_once_not_each_of_its_names() -> None:
    guard = Guard("celery", "celery", {"NoSuchClass": ("a", "b"), "Celery": ("no_such_method",)})
    assert guard.missing() == ["celery.NoSuchClass", "celery.Celery.no_such_method"]


def test_a_value_that_is_gone_is_reported_as_nothing() -> None:
    guard = Guard("kombu", "kombu.transport.redis", {}, values={"Channel.no_such_value": "x"})
    assert guard.missing() == ["kombu.transport.redis.Channel.no_such_value == 'x' (it is nothing)"]


def test_the_error_names_the_tested_range_and_how_to_fix_it() -> None:
    # Given a guard of a name the installed package lacks, with the versions conveyor is tested with
    guard = Guard("celery", "celery", {"Celery": ("no_such_method",)}, tested=">=5.7,<5.8")
    # When it is checked
    with pytest.raises(CompatibilityError) as raised:
        check(guard)
    # Then the message names the package's version, the name, the tested range and the fix
    assert str(raised.value) == (
        "conveyor relies on private names that this install lacks: "
        f"celery {guard.version()} has no celery.Celery.no_such_method (conveyor is tested with celery >=5.7,<5.8). "
        "Install a version conveyor supports (see its pyproject.toml) or upgrade conveyor."
    )


def test_a_distribution_that_is_not_installed_has_an_unknown_version() -> None:
    assert Guard("conveyor-no-such-distribution", "json", {}).version() == "(version unknown)"


def test_required_instance_attributes_name_the_objects_class() -> None:
    class Channel:
        brpop_timeout = 1

    with pytest.raises(
        CompatibilityError, match=r"kombu \S+ gives .*test_guard\.[\w.<>]*Channel no _queue_cycle, _x\."
    ):
        require_attributes(Channel(), ("brpop_timeout", "_queue_cycle", "_x"), "kombu")
    require_attributes(Channel(), ("brpop_timeout",), "kombu")  # present: nothing raised
