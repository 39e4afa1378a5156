"""The guards of the private names conveyor uses fail loudly, naming the version and the name."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from celery import Celery
from kombu.transport import redis as kombu_redis
from redbeat.schedulers import RedBeatSchedulerEntry

import conveyor
from conveyor import compat
from conveyor.compat import celery as celery_compat
from conveyor.compat import flower as flower_compat
from conveyor.compat import kombu as kombu_compat
from conveyor.compat import redbeat as redbeat_compat
from conveyor.compat import tornado as tornado_compat
from conveyor.compat.guard import Guard, check
from conveyor.compat.worker import CompatCheck
from conveyor.errors import CompatibilityError
from tests.conftest import TEST_REDIS_URL

GUARDS = [celery_compat.GUARD, kombu_compat.GUARD, redbeat_compat.GUARD, flower_compat.GUARD, tornado_compat.GUARD]


@pytest.mark.parametrize("guard", GUARDS, ids=lambda guard: guard.distribution)
def test_the_installed_versions_have_every_guarded_name(guard: Guard) -> None:
    assert guard.missing() == []


def test_a_renamed_kombu_method_makes_configure_fail_naming_version_and_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(kombu_redis.Channel, "_brpop_start")
    with pytest.raises(CompatibilityError) as raised:
        conveyor.configure(Celery("compat"), default=False, broker_url=TEST_REDIS_URL)
    message = str(raised.value)
    assert f"kombu {kombu_compat.GUARD.version()} has no kombu.transport.redis.Channel._brpop_start" in message
    assert "tested with kombu >=5.7,<5.8" in message


@pytest.mark.filterwarnings("ignore::celery.exceptions.SecurityWarning")  # the suite may run as root
def test_a_worker_refuses_to_start_when_a_guarded_name_is_gone(monkeypatch: pytest.MonkeyPatch) -> None:
    app = conveyor.configure(Celery("compat-worker"), default=False, broker_url=TEST_REDIS_URL)
    assert CompatCheck in app.steps["worker"]
    monkeypatch.delattr(RedBeatSchedulerEntry, "decode_definition")
    gone = r"celery-redbeat .* has no redbeat\.schedulers\.RedBeatSchedulerEntry\.decode_definition"
    with pytest.raises(CompatibilityError, match=gone):
        app.Worker(pool="solo", concurrency=1, without_heartbeat=True, without_mingle=True, without_gossip=True)


def test_every_missing_name_is_listed_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    # Names kombu's Redis channel defines itself (an inherited one would still be there to override).
    monkeypatch.delattr(kombu_redis.Channel, "_brpop_read")
    monkeypatch.delattr(kombu_redis.Channel, "_q_for_pri")
    with pytest.raises(CompatibilityError) as raised:
        compat.check_core()
    assert "Channel._brpop_read" in str(raised.value)
    assert "Channel._q_for_pri" in str(raised.value)


def test_attributes_set_in_init_are_checked_on_the_live_object() -> None:
    class Bare:
        pass

    with pytest.raises(CompatibilityError, match=r"celery .* gives .*Bare no _tasks, _finalize_mutex"):
        celery_compat.check_app(Bare())  # type: ignore[arg-type]
    celery_compat.check_app(Celery("fine"))  # a real app has them


@pytest.mark.redis  # opens a broker connection
def test_a_reliable_fetch_channel_checks_kombus_instance_state(
    celery_app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(kombu_compat, "CHANNEL_INSTANCE_READS", (*kombu_compat.CHANNEL_INSTANCE_READS, "_renamed"))
    with celery_app.connection_for_write() as connection, pytest.raises(CompatibilityError, match="no _renamed"):
        connection.default_channel  # noqa: B018 - opening the channel is the act under test


def test_flowers_navbar_must_keep_the_line_conveyors_links_go_before(tmp_path: Path) -> None:
    import flower

    flower_compat.check_navbar(Path(flower.__file__).parent / "templates")  # Flower as installed: fine
    (tmp_path / "navbar.html").write_text("<ul class='navbar-nav'><li>Workers</li></ul>\n")  # no line closing it
    with pytest.raises(CompatibilityError, match="cannot add its Schedule and Dead links"):
        flower_compat.check_navbar(tmp_path)


def test_a_flower_that_does_not_check_xsrf_tokens_is_refused() -> None:
    flower_compat.check_xsrf({"xsrf_cookies": True})
    with pytest.raises(CompatibilityError, match="would accept cross-site form posts"):
        flower_compat.check_xsrf({})  # Flower 2.0 and 2.1: tornado never calls the views' token check


def test_a_missing_module_is_reported_as_missing() -> None:
    guard = Guard("celery", "celery.no_such_module", {"": ("x",)})
    with pytest.raises(CompatibilityError, match=r"celery \S+ has no celery\.no_such_module"):
        check(guard)


@pytest.mark.parametrize("indent", ["    ", "      "], ids=["flower-2.0", "flower-2.2"])
def test_the_links_go_into_the_primary_list_of_either_navbar_layout(indent: str) -> None:
    navbar = f"<ul class='primary'>\n{indent}<li>Workers</li>\n{indent}</ul>\n<ul class='secondary'>\n{indent}</ul>\n"
    spliced = flower_compat.splice_navbar(navbar, "<li>Dead</li>\n")
    assert spliced == f"<ul class='primary'>\n{indent}<li>Workers</li>\n<li>Dead</li>\n{indent}</ul>\n" + (
        f"<ul class='secondary'>\n{indent}</ul>\n"
    )
