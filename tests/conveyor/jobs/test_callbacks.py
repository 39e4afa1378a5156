"""``conveyor.jobs.callbacks``: the callback decorators, each event's chain, and running a body inside it.

Order: inherited callbacks first, then a class's own in definition order; ``before_*``, then ``around_*``
(the first declared outermost), the body, then ``after_*``. Halting: ``Abort`` in ``before_*``/``around_*``,
or an ``around_*`` that returns without yielding.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from conveyor import Abort, DeclarationError, Job, after_enqueue, around_enqueue, around_perform, before_enqueue
from conveyor.jobs.callbacks import Chain, before_perform, collect_chains, run_chain
from conveyor.testing import EnqueuedJobs
from tests.jobs import HaltingEnqueueJob, HaltingPerformJob, OrderedJob, Recorder


class Calls:
    """A plain object whose methods record that they ran (run_chain needs no Job)."""

    def __init__(self) -> None:
        self.log: list[str] = []

    def before(self) -> None:
        self.log.append("before")

    def after(self) -> None:
        self.log.append("after")

    def outer(self) -> Iterator[None]:
        self.log.append("outer:in")
        result = yield
        self.log.append(f"outer:out:{result}")

    def inner(self) -> Iterator[None]:
        self.log.append("inner:in")
        result = yield
        self.log.append(f"inner:out:{result}")

    def refuse(self) -> None:
        self.log.append("refuse")
        raise Abort("not now")

    def skip(self) -> Iterator[None]:
        self.log.append("skip")
        return
        yield  # a generator that never reaches its yield

    def twice(self) -> Iterator[None]:
        yield
        yield

    def watch(self) -> Iterator[None]:
        try:
            yield
        except ValueError as error:
            self.log.append(f"watch saw {error}")
            raise

    def rescue(self) -> Iterator[None]:
        try:
            yield
        except ValueError:
            self.log.append("rescued")


def body_of(calls: Calls, value: Any = "done") -> Callable[[], Any]:
    def body() -> Any:
        calls.log.append("body")
        return value

    return body


# --- declaring ----------------------------------------------------------------------------------------


def test_around_callbacks_must_be_generators() -> None:
    from conveyor import around_perform

    with pytest.raises(DeclarationError, match="must be a generator that yields once"):

        class NoYieldJob(Job):
            @around_perform
            def wrap(self) -> None: ...

            def perform(self) -> None: ...


def test_decorating_something_that_is_not_callable_fails_naming_the_decorator() -> None:
    # Given a value that is not a method / When decorated / Then the error names the decorator and the value
    with pytest.raises(DeclarationError) as refused:
        before_perform(5)  # type: ignore[type-var]

    assert str(refused.value) == "@before_perform decorates a method of a job class, got 5"


def test_chains_list_inherited_callbacks_first_then_the_classs_own_in_definition_order_each_once() -> None:
    # Given a base class with two before_perform callbacks and a subclass adding one and redefining one
    class Base:
        @before_perform
        def first(self) -> None: ...

        @before_perform
        def second(self) -> None: ...

    class Sub(Base):
        @before_enqueue
        def sending(self) -> None: ...

        @before_perform
        def third(self) -> None: ...

        @before_perform
        def first(self) -> None: ...

    # When the chains are built
    chains = collect_chains(Sub)

    # Then each event has its own chain; the redefined callback keeps its inherited place, once
    assert chains["perform"] == Chain(before=("first", "second", "third"))
    assert chains["enqueue"] == Chain(before=("sending",))
    assert chains["discard"].empty
    assert not chains["perform"].empty


# --- running a chain ------------------------------------------------------------------------------------


def test_before_then_arounds_outermost_first_then_the_body_then_after_and_the_bodys_value_returned() -> None:
    # Given one callback of each kind and two arounds
    calls = Calls()
    chain = Chain(before=("before",), around=("outer", "inner"), after=("after",))

    # When a body runs inside the chain
    result = run_chain(calls, chain, body_of(calls, 42))

    # Then the arounds nest, each receiving the body's value from its yield, and the value is returned
    assert result == 42
    assert calls.log == ["before", "outer:in", "inner:in", "body", "inner:out:42", "outer:out:42", "after"]


def test_an_abort_in_a_before_callback_propagates_and_nothing_after_it_runs() -> None:
    calls = Calls()
    chain = Chain(before=("refuse", "before"), around=("outer",), after=("after",))

    with pytest.raises(Abort, match="not now"):
        run_chain(calls, chain, body_of(calls))

    assert calls.log == ["refuse"]


def test_an_around_callback_that_returns_without_yielding_halts_the_body_naming_itself() -> None:
    # Given an around callback that returns before its yield
    calls = Calls()
    chain = Chain(around=("skip", "inner"), after=("after",))

    # When the chain runs / Then it halts with Abort naming the callback, and nothing else ran
    with pytest.raises(Abort) as halted:
        run_chain(calls, chain, body_of(calls))

    assert str(halted.value) == "around callback skip returned without yielding"
    assert calls.log == ["skip"]


def test_an_around_callback_that_yields_twice_is_a_declaration_error_naming_it() -> None:
    calls = Calls()

    with pytest.raises(DeclarationError) as refused:
        run_chain(calls, Chain(around=("twice",)), body_of(calls))

    assert str(refused.value) == "around callback twice yielded more than once"
    assert calls.log == ["body"]


def test_the_bodys_error_is_raised_at_the_yield_and_after_callbacks_do_not_run() -> None:
    # Given a body that fails inside an around callback watching for it
    calls = Calls()

    def failing() -> None:
        raise ValueError("broken")

    # When the chain runs / Then the around callback saw the error at its yield, and it propagates
    with pytest.raises(ValueError, match="broken"):
        run_chain(calls, Chain(around=("watch",), after=("after",)), failing)

    assert calls.log == ["watch saw broken"]


def test_an_around_callback_that_rescues_the_bodys_error_ends_its_part_with_none() -> None:
    # Given an around callback that catches the body's error (a `rescue` around `yield`)
    calls = Calls()

    def failing() -> None:
        raise ValueError("broken")

    # When the chain runs / Then the error goes no further and the chain's value is None
    assert run_chain(calls, Chain(around=("rescue",)), failing) is None
    assert calls.log == ["rescued"]


# --- on jobs ---------------------------------------------------------------------------------------------


def test_callbacks_run_inherited_first_with_around_nested_inside_before_and_after(recorder: Recorder) -> None:
    OrderedJob.perform_now("now")
    assert [r["name"] for r in recorder.of("cb")] == [
        "base.before_perform",
        "own.before_perform",
        "base.around_perform:before",
        "own.around_perform:before",
        "perform:now",
        "own.around_perform:after",
        "base.around_perform:after",
        "base.after_perform",
        "own.after_perform",
    ]


def test_an_abort_in_before_perform_halts_without_running_perform_or_after(recorder: Recorder) -> None:
    assert HaltingPerformJob.perform_now() is None
    assert recorder.of("should-not-run") == []
    assert recorder.of("after-halted") == []


def test_an_abort_in_before_enqueue_sends_nothing(recorder: Recorder) -> None:
    job = HaltingEnqueueJob.perform_later()
    assert job.successfully_enqueued is False


def test_around_perform_receives_performs_return_value_from_yield() -> None:
    seen: list[Any] = []

    class DoublingJob(Job):
        @around_perform
        def record(self) -> Any:
            result = yield
            seen.append(result)

        def perform(self, n: int) -> int:
            return n * 2

    assert DoublingJob.perform_now(21) == 42
    assert seen == [42]


def test_the_enqueue_callbacks_surround_the_send(enqueued_jobs: EnqueuedJobs) -> None:
    # Given enqueue callbacks that note how many jobs had been handed to the adapter
    sent_before: list[tuple[str, int]] = []

    class WatchedJob(Job):
        @before_enqueue
        def check(self) -> None:
            sent_before.append(("before", len(enqueued_jobs.jobs)))

        @around_enqueue
        def wrap(self) -> Iterator[None]:
            sent_before.append(("around:in", len(enqueued_jobs.jobs)))
            yield
            sent_before.append(("around:out", len(enqueued_jobs.jobs)))

        @after_enqueue
        def done(self) -> None:
            sent_before.append(("after", len(enqueued_jobs.jobs)))

        def perform(self) -> None: ...

    # When it is enqueued
    WatchedJob.perform_later()

    # Then the job was sent at the around callback's yield: after before_* and before after_*
    assert sent_before == [("before", 0), ("around:in", 0), ("around:out", 1), ("after", 1)]


def test_an_abort_in_after_enqueue_cannot_unsend_the_job(enqueued_jobs: EnqueuedJobs) -> None:
    # Given an after_enqueue callback that aborts
    class LateRefusalJob(Job):
        @after_enqueue
        def refuse(self) -> None:
            raise Abort("too late")

        def perform(self) -> None: ...

    # When it is enqueued / Then the job was sent and says so
    job = LateRefusalJob.perform_later()

    assert job.successfully_enqueued is True
    enqueued_jobs.assert_enqueued_with(job=LateRefusalJob)
