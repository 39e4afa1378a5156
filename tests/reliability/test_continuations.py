"""Continuable jobs on real worker processes: SIGTERM mid-step, resumed on another worker at the cursor.

Two prefork workers (-c 1) consume ``rel``; one takes a 3-step job whose middle step
processes rows one by one, advancing its cursor after each. The worker holding it gets
SIGTERM, as a deploy sends it: with ``REMAP_SIGTERM=SIGQUIT`` (a cold shutdown with a
soft-shutdown window, as the Procfile runs workers) and without (a warm shutdown).

Which row can run twice: none here. The row in flight when the signal arrives finishes,
``step.advance()`` records it in the cursor, and the checkpoint inside ``advance`` interrupts
the job: the cursor sent with the job is the row after it. A row runs twice only if the job
is cut off between doing a row and advancing past it (its worker killed, or no checkpoint
before the soft-shutdown window ends): then it resumes from the progress its message carried.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
import redis

from conveyor.broker.dead.dead_set import DeadSet
from tests.reliability.conftest import Workers, report, wait_until
from tests.reliability.test_faults import enqueuing_through

pytestmark = [pytest.mark.redis, pytest.mark.slow]

TOTAL, ROW_MS = 400, 10


def _rows(records: redis.Redis) -> list[tuple[int, str, float]]:
    entries = (entry.decode().split() for entry in records.lrange("rows", 0, -1))
    return [(int(row), worker, float(at)) for row, worker, at in entries]


@pytest.mark.parametrize("shutdown", ["cold (REMAP_SIGTERM=SIGQUIT)", "warm", "cold, then SIGKILL in the window"])
def test_sigterm_mid_step_resumes_on_another_worker_at_the_cursor_with_no_row_processed_twice(
    rel_app: Any, records: redis.Redis, workers: Workers, broker: Any, shutdown: str
) -> None:
    from tests.reliability.app import ContinuableImportJob

    env = {"REMAP_SIGTERM": "SIGQUIT" if shutdown.startswith("cold") else ""}
    first, second = workers.start(2, concurrency=1, **env)
    started = time.monotonic()
    with enqueuing_through(rel_app):
        job = ContinuableImportJob.perform_later(TOTAL, ROW_MS)
    wait_until(lambda: records.llen("rows") >= TOTAL // 4, 30, message="a quarter of the rows")

    holder_name = _rows(records)[0][1]
    holder = next(worker for worker in (first, second) if f"{worker_name(worker)}@" in holder_name)
    other = second if holder is first else first
    signalled = time.time()
    holder.send()  # SIGTERM to the worker's main process, as a container runtime sends it
    if shutdown.endswith("window"):  # a grace period shorter than the soft-shutdown window
        wait_until(lambda: "Interrupted ContinuableImportJob" in holder.output, 10, message="the interruption")
        workers.kill9(holder)
    code = holder.process.wait(timeout=30)
    stopped_in = time.time() - signalled

    wait_until(lambda: records.llen("resumptions") == 1, 60, message=lambda: other.output()[-3000:])
    rows = _rows(records)
    numbers = [row for row, _, _ in rows]
    assert sorted(numbers) == list(range(TOTAL)), "every row processed"
    assert len(numbers) == len(set(numbers)), f"rows processed twice: {len(numbers) - len(set(numbers))}"
    switched = next(i for i, (_, worker, _) in enumerate(rows) if worker != holder_name)
    assert TOTAL // 4 <= switched < TOTAL, "the interrupted worker had done part of the rows"
    assert all(worker == holder_name for _, worker, _ in rows[:switched])
    assert all(worker != holder_name for _, worker, _ in rows[switched:]), "the rest ran on the other worker"
    steps = [entry.decode() for entry in records.lrange("steps", 0, -1)]
    assert steps == [f"initialize {holder_name}", f"finalize {rows[-1][1]}"], "completed steps were skipped"
    assert records.lrange("resumptions", 0, -1) == [b"1"]
    assert f"Resuming ContinuableImportJob (Job ID: {job.job_id}) at step 'process', cursor {switched}" in (
        other.output
    )
    assert f"Interrupted ContinuableImportJob (Job ID: {job.job_id}) at step 'process', cursor {switched}" in (
        holder.output
    )
    assert DeadSet(redis.Redis.from_url(broker.url)).count() == 0
    # The stopping worker let go of the job at its next checkpoint (a row: 10 ms) and it was enqueued
    # at once: the other worker went on before the end of the soft-shutdown window (3 s in this suite).
    resumed_after = rows[switched][2] - signalled
    assert resumed_after < 1.5, f"resumed {resumed_after:.2f} s after SIGTERM"
    if not shutdown.startswith("cold"):
        assert code == 0, "a warm shutdown ends cleanly"
    # The message the job started from is gone: not handed back when the holder closed (in a cold
    # shutdown its main process acknowledges nothing, celery#9505; the job handed it off), so it
    # does not run again from the progress it carried.
    client = redis.Redis.from_url(broker.url)
    wait_until(
        lambda: client.hlen("unacked") == 0 and not any(client.llen(key) for key in client.keys("rel*")),
        30,
        message="the broker to have no message left",
    )
    assert records.llen("steps") == 2, "no step ran again"
    assert records.llen("rows") == TOTAL, "no row ran again"
    report(
        f"continuation: SIGTERM mid-step, {shutdown}",
        1,
        0,
        0,
        time.monotonic() - started,
        f"resumed at row {switched}/{TOTAL} {resumed_after:.2f} s after SIGTERM, 0 rows twice, "
        f"holder exited after {stopped_in:.1f} s",
    )


def worker_name(service: Any) -> str:
    """The -n name given to a worker by the Workers fixture (``w<N>``)."""
    argv = service.argv if hasattr(service, "argv") else service.process.args
    return str(argv[argv.index("-n") + 1]).split("@")[0]
