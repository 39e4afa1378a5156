"""``conveyor.compat.redbeat``: redbeat's settings view, checked for the attributes conveyor reads."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from celery import Celery
from redbeat import schedulers

from conveyor.compat import redbeat as redbeat_compat
from conveyor.errors import CompatibilityError


def test_redbeats_settings_give_the_keys_conveyor_writes_under() -> None:
    app = Celery("beat-conf", set_as_current=False)
    app.conf.update(redbeat_key_prefix="tenant-redbeat:", redbeat_redis_url="redis://127.0.0.1:6379/0")
    conf = redbeat_compat.beat_conf(app)
    assert conf.key_prefix == "tenant-redbeat:"
    assert conf.schedule_key.startswith("tenant-redbeat:")


def test_a_redbeat_whose_settings_lack_a_key_conveyor_reads_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a redbeat whose settings object no longer has schedule_key
    monkeypatch.setattr(schedulers, "ensure_conf", lambda app: SimpleNamespace(key_prefix="redbeat:", lock_key="l"))
    # Then reading them fails naming the distribution and the attribute
    with pytest.raises(CompatibilityError, match=r"celery-redbeat \S+ gives .*SimpleNamespace no schedule_key\."):
        redbeat_compat.beat_conf(Celery("beat-old", set_as_current=False))
