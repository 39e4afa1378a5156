"""``conveyor.compat.worker``: a worker checks the private names again before it consumes anything."""

from __future__ import annotations

import pytest
from celery import Celery
from redbeat.schedulers import RedBeatSchedulerEntry

import conveyor
from conveyor.compat.worker import CompatCheck
from conveyor.errors import CompatibilityError
from tests.conftest import TEST_REDIS_URL


@pytest.mark.filterwarnings("ignore::celery.exceptions.SecurityWarning")  # the suite may run as root
def test_a_worker_refuses_to_start_when_a_guarded_name_is_gone(monkeypatch: pytest.MonkeyPatch) -> None:
    app = conveyor.configure(Celery("compat-worker"), default=False, broker_url=TEST_REDIS_URL)
    assert CompatCheck in app.steps["worker"]
    monkeypatch.delattr(RedBeatSchedulerEntry, "decode_definition")
    gone = r"celery-redbeat .* has no redbeat\.schedulers\.RedBeatSchedulerEntry\.decode_definition"
    with pytest.raises(CompatibilityError, match=gone):
        app.Worker(pool="solo", concurrency=1, without_heartbeat=True, without_mingle=True, without_gossip=True)
