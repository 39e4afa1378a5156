"""``conveyor.jobs.priority``: the ``priority`` declaration, checked at class definition, resolved at enqueue.

Resolution order: an option given to ``enqueue`` itself (what a retry passes), then ``set(priority=...)``,
then the class's ``priority`` (an int, or a callable of the job), then the app's ``task_default_priority``.
"""

from __future__ import annotations

from typing import Any

import pytest
from celery import Celery

from conveyor import DeclarationError, Job
from conveyor.testing import EnqueuedJobs


class UrgentWhenBigJob(Job):
    priority = staticmethod(lambda job: 0 if job.arguments[0] > 10 else 7)

    def perform(self, size: int) -> None: ...


class BackgroundJob(Job):
    priority = 8

    def perform(self) -> None: ...


class UndeclaredJob(Job):
    def perform(self) -> None: ...


# --- declaration ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            {"priority": 10},
            r"priority \(or a callable \(job\) -> priority\) must be an int from 0 \(most urgent\) to 9",
        ),
        ({"priority": "high"}, r"priority \(or a callable \(job\) -> priority\) must be an int"),
    ],
)
def test_bad_class_declarations_fail_when_the_class_is_defined(body: dict[str, Any], message: str) -> None:
    def perform(self: Job) -> None: ...

    with pytest.raises(DeclarationError, match=message):
        type("BadJob", (Job,), {**body, "perform": perform})


def test_a_boolean_priority_fails_at_declaration_naming_the_class_and_the_value() -> None:
    # Given a priority of True (an int to Python, a mistake to a reader)
    # When the class is defined / Then it is refused, naming the class, the range and the value
    with pytest.raises(DeclarationError) as refused:
        type("FlagPriorityJob", (Job,), {"priority": True, "perform": lambda self: None})

    message = str(refused.value)
    assert message.startswith("FlagPriorityJob.priority (or a callable (job) -> priority) must be an int from 0")
    assert "to 9 (least), or None for the queue default, but got True" in message


def test_none_and_every_priority_from_0_to_9_are_accepted_at_declaration() -> None:
    # Given the whole range and None / When classes declare them / Then each is kept as declared
    declared = [
        type(f"P{value}Job", (Job,), {"priority": value, "perform": lambda self: None}).priority
        for value in [None, *range(10)]
    ]
    assert declared == [None, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9]


# --- resolution at enqueue ----------------------------------------------------------------------------


def test_priority_may_be_a_callable_of_the_job_evaluated_at_enqueue(enqueued_jobs: EnqueuedJobs) -> None:
    UrgentWhenBigJob.perform_later(20)
    UrgentWhenBigJob.perform_later(1)
    UrgentWhenBigJob.set(priority=3).perform_later(20)
    assert [entry.priority for entry in enqueued_jobs.jobs] == [0, 7, 3], "set(priority=) still wins"


def test_a_callable_priority_returning_a_bad_value_fails_at_enqueue_naming_it(enqueued_jobs: EnqueuedJobs) -> None:
    class BadPriorityJob(Job):
        priority = staticmethod(lambda job: 12)

        def perform(self) -> None: ...

    with pytest.raises(ValueError, match=r"BadPriorityJob.priority\(job\) must be an int from 0"):
        BadPriorityJob.perform_later()
    enqueued_jobs.assert_no_enqueued_jobs()
    with pytest.raises(DeclarationError, match=r"or a callable \(job\) -> priority\) must be an int"):

        class _Bad(Job):
            priority = "high"  # type: ignore[assignment]

            def perform(self) -> None: ...


def test_the_priority_resolves_from_enqueue_then_set_then_the_class_then_the_app_default(
    enqueued_jobs: EnqueuedJobs, celery_app: Celery
) -> None:
    # Given a class declaring 8, and an app default that is none of the values below
    app_default = celery_app.conf.task_default_priority
    assert app_default not in (1, 3, 8)

    # When jobs are enqueued with each level given
    retried = BackgroundJob().set(priority=3).enqueue(priority=1)
    chosen = BackgroundJob.set(priority=3).perform_later()
    declared = BackgroundJob.perform_later()
    undeclared = UndeclaredJob.perform_later()

    # Then the most specific level wins, on the job and in what was sent
    assert [retried.priority, chosen.priority, declared.priority, undeclared.priority] == [1, 3, 8, app_default]
    assert [entry.priority for entry in enqueued_jobs.jobs] == [1, 3, 8, app_default]


def test_a_callable_priority_is_not_called_when_set_gives_one(enqueued_jobs: EnqueuedJobs) -> None:
    # Given a callable priority that records its calls
    calls: list[Any] = []

    class CountedJob(Job):
        priority = staticmethod(lambda job: calls.append(job.arguments) or 4)

        def perform(self, n: int) -> None: ...

    # When one job is enqueued with set(priority=...) and one without
    CountedJob.set(priority=0).perform_later(1)
    CountedJob.perform_later(2)

    # Then only the second asked the callable
    assert calls == [(2,)]
    assert [entry.priority for entry in enqueued_jobs.jobs] == [0, 4]


def test_a_callable_priority_returning_a_bool_fails_at_enqueue_and_nothing_is_sent(
    enqueued_jobs: EnqueuedJobs,
) -> None:
    # Given a callable that returns a bool
    class YesNoJob(Job):
        priority = staticmethod(lambda job: job.arguments[0] == "vip")

        def perform(self, kind: str) -> None: ...

    # When it is enqueued / Then ValueError names the callable and the value, and nothing was sent
    with pytest.raises(ValueError, match=r"YesNoJob.priority\(job\) must be an int from 0 .* but got True"):
        YesNoJob.perform_later("vip")
    enqueued_jobs.assert_no_enqueued_jobs()
