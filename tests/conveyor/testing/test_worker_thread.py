"""worker_thread: a worker that cannot start, or does not stop, fails its test and only its test.

Celery's own ``start_worker`` waits for ever for a worker that stopped before it was ready, and
after a worker that outlived its ``shutdown_timeout`` it leaves ``should_terminate`` set, so every
later worker of the process stops as it starts: CI once lost 35 tests to one slow shutdown.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from celery import Celery, bootsteps

import conveyor
from conveyor import Job
from conveyor.testing import worker_thread
from conveyor.testing.worker_thread import SHUTDOWN_TIMEOUT_S, START_TIMEOUT_S
from tests.conftest import TEST_REDIS_URL

pytestmark = pytest.mark.redis

_RELEASE = threading.Event()
_STARTED = threading.Event()


class HoldingJob(Job):
    """Runs until the test releases it."""

    queue_as = "worker_thread_tests"

    def perform(self, hold: bool) -> str:
        if hold:
            _STARTED.set()
            assert _RELEASE.wait(60)
        return "done"


class RefusingStep(bootsteps.StartStopStep):
    """A worker bootstep that fails, as a broken extension would."""

    def start(self, worker: Any) -> None:
        raise RuntimeError("the refusing step refused")


def start_and_leave(app: Celery, **options: Any) -> None:
    with worker_thread(app, **options):
        pass


def leave_a_job_running(app: Celery) -> None:
    with worker_thread(app, queues=["worker_thread_tests"], shutdown_timeout=0.2):
        HoldingJob.perform_later(True)
        assert _STARTED.wait(30)


def runs_a_job(app: Celery) -> None:
    with worker_thread(app, queues=["worker_thread_tests"]):
        assert HoldingJob.perform_later(False).async_result.get(timeout=30) == "done"


def test_the_shipped_limits_leave_a_slow_machine_room() -> None:
    assert (START_TIMEOUT_S, SHUTDOWN_TIMEOUT_S) == (60.0, 30.0)  # Celery's own: no limit, and 10 s


def test_a_worker_that_stops_before_it_is_ready_fails_at_once_with_its_error(celery_app: Celery) -> None:
    refusing = conveyor.configure(Celery("refusing", set_as_current=False), default=False, broker_url=TEST_REDIS_URL)
    refusing.steps["worker"].add(RefusingStep)
    started = time.monotonic()

    with pytest.raises(RuntimeError, match=r"stopped before it was ready \(RuntimeError: the refusing step refused\)"):
        start_and_leave(refusing, queues=["worker_thread_tests"])

    assert time.monotonic() - started < 20
    runs_a_job(celery_app)  # and the next worker starts


def test_a_worker_that_outlives_its_block_is_waited_for_and_the_next_one_starts(celery_app: Celery) -> None:
    _RELEASE.clear()
    _STARTED.clear()
    try:
        # Given a worker left while its job runs on, past its shutdown time
        with pytest.raises(RuntimeError, match="Worker thread failed to exit"):
            leave_a_job_running(celery_app)

        # Then a worker started while it still runs says so, naming where it is, instead of hanging
        with pytest.raises(RuntimeError, match=r"has not ended after 0.2 s more .* it is at .*perform"):
            start_and_leave(celery_app, leftover_timeout=0.2)
    finally:
        _RELEASE.set()

    # And once its job returned, the next worker starts and runs jobs (Celery's stop flags were put back)
    runs_a_job(celery_app)
