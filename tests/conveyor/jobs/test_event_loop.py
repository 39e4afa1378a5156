"""``async def perform`` in-process: the process's one event loop, callbacks, errors, limits, async enqueue.

The worker-process behaviour (a threads pool's concurrency, prefork children, kill -9, warm
shutdown) is in ``tests/integration/test_async_workers.py``.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from celery.exceptions import SoftTimeLimitExceeded, TimeLimitExceeded

from conveyor import (
    DeclarationError,
    Job,
    after_discard,
    after_perform,
    aperform_all_later,
    around_perform,
    before_perform,
    discard_on,
    on_loop_start,
    retry_on,
)
from conveyor.jobs import event_loop
from conveyor.testing import EnqueuedJobs, interrupt_job_during_step

EVENTS: list[str] = []


class Flaky(Exception):
    pass


class Gone(Exception):
    pass


class LoopRecordingJob(Job):
    """Awaits, then returns the id of the loop it ran on and what it was given."""

    async def perform(self, value: int, delay: float = 0.0) -> tuple[int, int]:
        await asyncio.sleep(delay)
        return id(asyncio.get_running_loop()), value * 2


class MixedCallbacksJob(Job):
    """Sync and async callbacks around an async perform; each records itself."""

    @before_perform
    def sync_before(self) -> None:
        EVENTS.append("sync before")

    @before_perform
    async def async_before(self) -> None:
        await asyncio.sleep(0)
        EVENTS.append("async before")

    @around_perform
    async def async_around(self) -> AsyncIterator[None]:
        EVENTS.append("async around: in")
        result = yield
        EVENTS.append(f"async around: out with {result}")

    @around_perform
    def sync_around(self) -> Iterator[None]:
        EVENTS.append("sync around: in")
        yield
        EVENTS.append("sync around: out")

    @after_perform
    async def async_after(self) -> None:
        EVENTS.append("async after")

    async def perform(self) -> str:
        EVENTS.append("perform")
        return "done"


class SyncJobWithAsyncCallback(Job):
    @before_perform
    async def prepare(self) -> None:
        EVENTS.append(f"async callback on loop {id(asyncio.get_running_loop())}")

    def perform(self) -> str:
        return "sync"


@retry_on(Flaky, wait=5, attempts=3)
@discard_on(Gone)
class FlakyAsyncJob(Job):
    async def perform(self, error: str) -> None:
        await asyncio.sleep(0)
        raise {"flaky": Flaky, "gone": Gone}[error]("from the coroutine")


@pytest.fixture(autouse=True)
def _clean() -> None:
    EVENTS.clear()


def test_async_perform_runs_on_one_loop_per_process_and_perform_now_returns_its_value() -> None:
    # Given an async job run three times from sync code
    results = [LoopRecordingJob.perform_now(value) for value in range(3)]
    # Then each returned perform's value, and all ran on the same loop, which is not this thread's
    assert [value for _, value in results] == [0, 2, 4]
    assert len({loop for loop, _ in results}) == 1
    assert results[0][0] == id(event_loop.process_loop().loop)


def test_a_wrong_argument_count_is_refused_at_enqueue_as_for_a_sync_job(enqueued_jobs: EnqueuedJobs) -> None:
    with pytest.raises(TypeError, match=r"LoopRecordingJob: .*perform\(value, delay=0.0\)"):
        LoopRecordingJob.perform_later(1, 2, 3)
    enqueued_jobs.assert_no_enqueued_jobs()


def test_sync_and_async_callbacks_run_in_order_around_an_async_perform() -> None:
    assert MixedCallbacksJob.perform_now() == "done"
    assert EVENTS == [
        "sync before",
        "async before",
        "async around: in",
        "sync around: in",
        "perform",
        "sync around: out",
        "async around: out with done",
        "async after",
    ]


def test_an_async_callback_on_a_sync_job_runs_on_the_process_loop() -> None:
    assert SyncJobWithAsyncCallback.perform_now() == "sync"
    assert [f"async callback on loop {id(event_loop.process_loop().loop)}"] == EVENTS


def test_retry_on_and_discard_on_match_errors_raised_in_the_coroutine(enqueued_jobs: EnqueuedJobs) -> None:
    # retry_on: enqueued again with its wait
    FlakyAsyncJob.perform_now("flaky")
    [retry] = enqueued_jobs.jobs
    assert retry.job_class is FlakyAsyncJob
    assert retry.args == ("flaky",)
    enqueued_jobs.clear()
    # discard_on: not enqueued, not raised
    assert FlakyAsyncJob.perform_now("gone") is None
    enqueued_jobs.assert_no_enqueued_jobs()


def test_a_generator_perform_is_refused_at_import_naming_the_fix() -> None:
    with pytest.raises(DeclarationError, match=r"perform yields.*self.step"):

        class YieldingJob(Job):
            async def perform(self) -> AsyncIterator[int]:
                yield 1


def test_loop_hooks_must_be_async_functions() -> None:
    def not_async() -> None: ...

    with pytest.raises(DeclarationError, match="on_loop_start takes an async def function"):
        on_loop_start(not_async)  # type: ignore[arg-type]


def test_time_limits_declared_on_a_job_are_checked_at_import() -> None:
    with pytest.raises(DeclarationError, match=r"soft_time_limit must be a number of seconds > 0, got -1"):

        class NegativeJob(Job):
            soft_time_limit = -1

            async def perform(self) -> None: ...

    with pytest.raises(DeclarationError, match=r"soft_time_limit \(6\) must be less than time_limit \(5\)"):

        class InvertedJob(Job):
            soft_time_limit, time_limit = 6, 5

            async def perform(self) -> None: ...


def test_the_soft_limit_cancels_the_coroutine_at_its_await_its_finally_runs_and_the_loop_goes_on() -> None:
    # Given a coroutine awaiting 60 s with a soft limit in 0.3 s, and another coroutine on the same loop
    finally_ran = threading.Event()

    async def slow() -> None:
        try:
            await asyncio.sleep(60)
        finally:
            finally_ran.set()

    async def other() -> str:
        await asyncio.sleep(0.6)
        return "other finished"

    other_result: list[str] = []
    neighbour = threading.Thread(target=lambda: other_result.append(event_loop.run(other())))
    neighbour.start()
    started = time.monotonic()
    # When the soft limit passes
    reset = event_loop.job_scope(event_loop.JobScope(started + 0.3, started + 5))
    try:
        with pytest.raises(SoftTimeLimitExceeded, match="cancelled at its current await"):
            event_loop.run(slow())
    finally:
        reset()
    # Then it was cancelled within the limit + 1 s, its finally ran, and the other coroutine was unaffected
    assert time.monotonic() - started < 3.0  # 0.3 s + generous room for a loaded machine
    assert finally_ran.is_set()
    neighbour.join(5)
    assert other_result == ["other finished"]


def test_a_coroutine_that_swallows_its_cancellation_is_left_behind_at_the_hard_limit_with_a_clear_error() -> None:
    stop = threading.Event()

    async def stubborn() -> None:
        while not stop.is_set():
            try:
                await asyncio.sleep(0.05)
            except asyncio.CancelledError:
                continue  # ignores the cancellation

    started = time.monotonic()
    try:
        reset = event_loop.job_scope(event_loop.JobScope(started + 0.2, started + 0.5))
        try:
            with pytest.raises(TimeLimitExceeded, match=r"ignored its cancellation.*left there"):
                event_loop.run(stubborn())
        finally:
            reset()
        assert time.monotonic() - started < 0.5 + event_loop.HARD_LIMIT_GRACE_S + 3.0
        # and the loop still runs other jobs
        assert LoopRecordingJob.perform_now(4)[1] == 8
    finally:
        stop.set()


def test_the_coroutines_own_timeout_error_is_its_error_not_a_time_limit() -> None:
    async def times_out() -> None:
        await asyncio.wait_for(asyncio.sleep(5), 0.01)

    reset = event_loop.job_scope(event_loop.JobScope(time.monotonic() + 30))
    try:
        with pytest.raises(TimeoutError) as raised:
            event_loop.run(times_out())
    finally:
        reset()
    assert not isinstance(raised.value, SoftTimeLimitExceeded)


def test_a_job_cancelled_from_inside_is_an_ordinary_error_not_a_base_exception() -> None:
    async def cancels_itself() -> None:
        task = asyncio.current_task()
        assert task is not None
        task.cancel()
        await asyncio.sleep(1)

    with pytest.raises(event_loop.JobCancelled):
        event_loop.run(cancels_itself())


def test_perform_now_from_the_loops_own_thread_says_to_await_aperform_now() -> None:
    async def inside() -> None:
        LoopRecordingJob.perform_now(1)

    with pytest.raises(RuntimeError, match=r"await Job.aperform_now"):
        event_loop.run(inside())


def test_aperform_now_runs_the_coroutine_on_the_callers_loop() -> None:
    async def main() -> tuple[int, tuple[int, int]]:
        return id(asyncio.get_running_loop()), await LoopRecordingJob.aperform_now(21)

    caller, (ran_on, value) = asyncio.run(main())
    assert (ran_on, value) == (caller, 42)


def test_aperform_later_and_aperform_all_later_enqueue_without_running_the_send_on_the_loop(
    enqueued_jobs: EnqueuedJobs,
) -> None:
    async def main() -> int:
        single = await LoopRecordingJob.aperform_later(1)
        configured = await LoopRecordingJob.set(queue="other").aperform_later(2)
        assert single.successfully_enqueued
        assert configured.queue_name == "other"
        return await aperform_all_later([LoopRecordingJob(n) for n in range(3, 6)])

    assert asyncio.run(main()) == 3
    assert sorted(entry.args[0] for entry in enqueued_jobs.jobs) == [1, 2, 3, 4, 5]


def test_aperform_later_refuses_a_wrong_argument_before_anything_is_sent(enqueued_jobs: EnqueuedJobs) -> None:
    async def main() -> None:
        await LoopRecordingJob.aperform_later()

    with pytest.raises(TypeError, match="missing a required argument: 'value'"):
        asyncio.run(main())
    enqueued_jobs.assert_no_enqueued_jobs()


def test_the_result_of_an_async_job_is_its_value_through_perform_all(enqueued_jobs: EnqueuedJobs) -> None:
    LoopRecordingJob.perform_later(7)
    assert enqueued_jobs.perform_all() == 1
    [performed] = enqueued_jobs.performed
    assert performed.job_class is LoopRecordingJob


ASYNC_STEPS: list[Any] = []


class AsyncImportJob(Job):
    """Continuation steps in an async perform: a ``for`` step with a cursor, and an ``async def`` step method."""

    async def perform(self, rows: int) -> None:
        for _ in self.step("initialize"):
            ASYNC_STEPS.append("initialize")
        for step in self.step("process", start=0):
            for row in range(step.cursor, rows):
                await asyncio.sleep(0)
                ASYNC_STEPS.append(row)
                step.advance()
        await self.step("finalize", self.finalize)

    async def finalize(self) -> None:
        await asyncio.sleep(0)
        ASYNC_STEPS.append("finalize")


def test_an_async_job_is_interrupted_at_a_checkpoint_and_resumes_at_its_cursor(enqueued_jobs: EnqueuedJobs) -> None:
    ASYNC_STEPS.clear()
    with interrupt_job_during_step(AsyncImportJob, "process", cursor=2):
        AsyncImportJob.perform_now(4)
    assert ASYNC_STEPS == ["initialize", 0, 1]
    resumed = enqueued_jobs.assert_enqueued_with(job=AsyncImportJob, args=(4,))
    assert resumed.continuation == {"completed": ["initialize"], "current": ["process", 2]}
    enqueued_jobs.perform_all()
    assert ASYNC_STEPS == ["initialize", 0, 1, 2, 3, "finalize"]


async def _record_discard(job: Job, error: Exception) -> None:
    await asyncio.sleep(0)
    EVENTS.append(f"handler: {error}")


@discard_on(Gone, handler=_record_discard)
class AsyncHandlersJob(Job):
    """A discard_on handler and an after_discard hook, both ``async def``."""

    @after_discard
    async def note(self, error: Exception) -> None:
        await asyncio.sleep(0)
        EVENTS.append(f"after_discard on loop {id(asyncio.get_running_loop())}: {error}")

    async def perform(self) -> None:
        raise Gone("no longer wanted")


def test_async_handlers_and_after_discard_hooks_are_awaited_on_the_process_loop() -> None:
    assert AsyncHandlersJob.perform_now() is None
    assert [
        "handler: no longer wanted",
        f"after_discard on loop {id(event_loop.process_loop().loop)}: no longer wanted",
    ] == EVENTS


def test_a_failing_loop_start_fails_the_job_naming_the_hook_and_the_next_job_starts_the_loop_again() -> None:
    failures = [RuntimeError("the API is down")]
    event_loop.stop_process_loop()  # registered while no loop runs: the hook runs when the next one starts

    @on_loop_start
    async def flaky_start() -> None:
        if failures:
            raise failures.pop()

    with pytest.raises(RuntimeError, match=r"an @on_loop_start function failed: RuntimeError\('the API is down'\)"):
        LoopRecordingJob.perform_now(1)
    assert LoopRecordingJob.perform_now(2)[1] == 4


def test_system_exit_in_a_coroutine_fails_its_job_and_the_loop_runs_on() -> None:
    class ExitingJob(Job):
        async def perform(self) -> None:
            raise SystemExit(3)

    with pytest.raises(event_loop.JobCancelled, match=r"raised SystemExit\(3\)"):
        ExitingJob.perform_now()
    assert event_loop.process_loop().alive
    assert LoopRecordingJob.perform_now(5)[1] == 10


def test_a_loop_that_refuses_the_task_fails_the_job_instead_of_hanging() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        loop.set_task_factory(lambda loop, coroutine: asyncio.Task(coroutine, loop=loop))  # no context=
        await LoopRecordingJob.aperform_now(1)

    with pytest.raises(TypeError, match="context"):
        asyncio.run(asyncio.wait_for(main(), 30))


def test_many_aperform_now_at_once_whose_coroutines_use_the_default_executor_do_not_deadlock() -> None:
    class ThreadedIoJob(Job):
        async def perform(self, n: int) -> int:
            await asyncio.to_thread(time.sleep, 0.01)
            return n

    async def main() -> list[int]:
        return await asyncio.wait_for(asyncio.gather(*(ThreadedIoJob.aperform_now(n) for n in range(20))), 30)

    assert asyncio.run(main()) == list(range(20))


def test_a_hard_limit_alone_cancels_the_coroutine() -> None:
    async def slow() -> None:
        await asyncio.sleep(30)

    started = time.monotonic()
    reset = event_loop.job_scope(event_loop.JobScope(None, started + 0.3))
    try:
        with pytest.raises(TimeLimitExceeded, match="hard time limit"):
            event_loop.run(slow())
    finally:
        reset()
    assert time.monotonic() - started < 5


def test_a_handler_after_the_soft_limit_runs_with_the_hard_limit_only() -> None:
    async def handler() -> str:
        await asyncio.sleep(0.05)
        return "handled"

    now = time.monotonic()
    reset = event_loop.job_scope(event_loop.JobScope(now - 1, now + 30))  # the soft limit has passed
    try:
        assert event_loop.run(handler(), soft_limit=False) == "handled"
    finally:
        reset()


VARIABLE: contextvars.ContextVar[str] = contextvars.ContextVar("test_variable", default="unset")


class ContextJob(Job):
    """Context variables set by its async callbacks are seen by perform, and reset after the yield."""

    @before_perform
    async def set_before(self) -> None:
        VARIABLE.set("from before_perform")

    @around_perform
    async def scoped(self) -> AsyncIterator[None]:
        seen_in_around = VARIABLE.get()
        token = VARIABLE.set("from around_perform")
        yield
        VARIABLE.reset(token)
        EVENTS.append(f"around saw {seen_in_around}; after reset {VARIABLE.get()}")

    async def perform(self) -> str:
        return VARIABLE.get()


def test_async_callbacks_and_perform_share_one_context_per_job() -> None:
    assert ContextJob.perform_now() == "from around_perform"
    assert EVENTS == ["around saw from before_perform; after reset from before_perform"]
    assert ContextJob.perform_now() == "from around_perform"  # a new job: a context of its own again


def test_a_start_hook_registered_once_the_loop_runs_runs_on_it_at_once() -> None:
    ran_on: list[int] = []
    loop = event_loop.process_loop().loop

    @on_loop_start
    async def late() -> None:
        ran_on.append(id(asyncio.get_running_loop()))

    assert ran_on == [id(loop)]


@pytest.fixture
def prefork_child(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """This (main) thread as a prefork child's: billiard's soft-limit handler installed, the loop run inline."""
    import signal

    def billiards_handler(signum: int, frame: Any) -> None:
        raise SoftTimeLimitExceeded()

    event_loop.stop_process_loop()
    monkeypatch.setattr(event_loop, "pool_enforces_time_limits", lambda: True)
    previous = signal.signal(signal.SIGUSR1, billiards_handler)
    try:
        yield
    finally:
        event_loop.stop_process_loop()
        signal.signal(signal.SIGUSR1, previous)  # the next test's first async job starts a threaded loop again


def test_a_prefork_childs_loop_is_run_by_its_main_thread_and_billiards_signal_cancels_the_coroutine(
    prefork_child: None,
) -> None:
    import os
    import signal

    loops = {LoopRecordingJob.perform_now(n)[0] for n in range(3)}
    assert event_loop.process_loop().inline
    assert loops == {id(event_loop.process_loop().loop)}  # one loop from job to job, no loop thread
    finally_ran: list[bool] = []

    class SlowJob(Job):
        async def perform(self) -> None:
            try:
                await asyncio.sleep(30)
            finally:
                finally_ran.append(True)

    threading.Timer(0.2, os.kill, (os.getpid(), signal.SIGUSR1)).start()  # as billiard signals the child
    started = time.monotonic()
    with pytest.raises(SoftTimeLimitExceeded, match="cancelled at its current await"):
        SlowJob.perform_now()
    assert time.monotonic() - started < 5
    assert finally_ran == [True]
    assert signal.getsignal(signal.SIGUSR1).__name__ == "billiards_handler"  # handed back for sync jobs
