"""``conveyor.jobs.stopping``: the shared flag saying this process's worker is stopping, and what raises it.

The states and their reading; Celery's ``worker_shutting_down`` signal (warm or cold, the first wins);
the ``StoppingFlag`` bootstep (raises ``COLD`` when the soft-shutdown window opens, clears on start);
and a process forked before the flag is raised seeing it.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from celery import signals

from conveyor.jobs import stopping
from conveyor.jobs.stopping import COLD, RUNNING, WARM, StoppingFlag, set_stopping, stopping_state


@pytest.fixture(autouse=True)
def _running() -> Iterator[None]:
    set_stopping(RUNNING)
    yield
    set_stopping(RUNNING)


@pytest.fixture
def worker() -> SimpleNamespace:
    """A stand-in for Celery's worker with its flag step: what the step reads and wraps."""
    waits: list[int] = []

    def wait_for_soft_shutdown() -> str:
        waits.append(stopping_state())
        return "waited"

    worker = SimpleNamespace(wait_for_soft_shutdown=wait_for_soft_shutdown, waits=waits)
    worker.step = StoppingFlag(worker)
    return worker


def shutting_down(how: str) -> None:
    signals.worker_shutting_down.send(sender="worker@test", sig="SIGTERM", how=how, exitcode=0)


def test_each_state_reads_back_and_only_running_is_not_stopping() -> None:
    seen = []
    for state in (WARM, COLD, RUNNING):
        set_stopping(state)
        seen.append((stopping_state(), stopping.stopping()))

    assert seen == [(WARM, True), (COLD, True), (RUNNING, False)]


@pytest.mark.usefixtures("worker")
@pytest.mark.parametrize(("how", "state"), [("Warm", WARM), ("Cold", COLD)])
def test_the_shutting_down_signal_raises_the_flag_of_its_kind(how: str, state: int) -> None:
    # Given a worker with the flag step, running / When Celery says it is shutting down
    shutting_down(how)

    # Then the flag says how
    assert stopping_state() == state


@pytest.mark.usefixtures("worker")
@pytest.mark.parametrize(("first", "state", "then"), [("Cold", COLD, "Warm"), ("Warm", WARM, "Cold")])
def test_the_first_shutdown_wins(first: str, state: int, then: str) -> None:
    # Given a flag raised by one shutdown / When the other kind follows / Then the flag keeps the first
    shutting_down(first)
    shutting_down(then)

    assert stopping_state() == state


def test_the_soft_shutdown_window_raises_the_cold_flag_before_the_worker_waits(worker: Any) -> None:
    # Given a worker whose wait_for_soft_shutdown the step wrapped
    # When the window opens
    returned = worker.wait_for_soft_shutdown()

    # Then the flag was COLD while the worker waited, and the worker's own wait ran and answered
    assert worker.waits == [COLD]
    assert returned == "waited"


def test_a_starting_worker_clears_the_flag(worker: Any) -> None:
    # Given a flag left raised by a worker that stopped in this process
    set_stopping(WARM)

    # When the next worker starts / Then it is not stopping
    worker.step.start(worker)
    assert stopping.stopping() is False


def test_a_process_forked_before_the_flag_is_raised_sees_it() -> None:
    # Given a child forked while the worker runs, waiting to be told to look
    go_read, go_write = os.pipe()
    answer_read, answer_write = os.pipe()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # fork() in a process with threads (Python 3.12+)
        pid = os.fork()
    if pid == 0:  # the child: no pytest beyond this point
        try:
            os.read(go_read, 1)
            os.write(answer_write, bytes([stopping_state()]))
        finally:
            os._exit(0)
    os.close(go_read)
    os.close(answer_write)

    # When the parent (the worker's main process) raises the flag after the fork
    set_stopping(WARM)
    os.write(go_write, b"x")

    # Then the child reads it
    answer = os.read(answer_read, 1)
    os.waitpid(pid, 0)
    os.close(go_write)
    os.close(answer_read)
    assert answer == bytes([WARM])
