"""``conveyor.jobs.queue_name``: the ``queue_as`` declaration, checked at class definition, resolved at enqueue.

Resolution order: ``set(queue=...)``, then the class's ``queue_as`` (a name, or a callable of the job),
then the app's ``task_default_queue``.
"""

from __future__ import annotations

from typing import Any

import pytest
from celery import Celery

from conveyor import DeclarationError, Job
from conveyor.testing import EnqueuedJobs


class ReportsJob(Job):
    queue_as = "reports"

    def perform(self) -> None: ...


class AnywhereJob(Job):
    def perform(self) -> None: ...


class TenantJob(Job):
    queue_as = staticmethod(lambda job: f"tenant {job.arguments[0]}")

    def perform(self, tenant: str) -> None: ...


# --- declaration ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"queue_as": ""}, "queue name of 1-200"),
        ({"queue_as": "low priority"}, "queue name of 1-200"),
    ],
)
def test_bad_class_declarations_fail_when_the_class_is_defined(body: dict[str, Any], message: str) -> None:
    def perform(self: Job) -> None: ...

    with pytest.raises(DeclarationError, match=message):
        type("BadJob", (Job,), {**body, "perform": perform})


def test_a_queue_as_that_is_not_a_name_fails_at_declaration_saying_what_is_accepted() -> None:
    # Given queue_as = 5 / When the class is defined / Then the error names the class, the rule and the value
    with pytest.raises(DeclarationError) as refused:
        type("NumberedJob", (Job,), {"queue_as": 5, "perform": lambda self: None})

    assert str(refused.value) == (
        "NumberedJob.queue_as (a name or a callable (job) -> name) must be a queue name of 1-200 letters, "
        "digits, '_', '-', '.' or ':', but got 5"
    )


@pytest.mark.parametrize("name", ["conveyor:dead", "_kombu.binding.default", "celery-task-meta-x", "x.reply.pidbox"])
def test_a_queue_as_naming_a_redis_key_that_is_not_a_queue_fails_at_declaration(name: str) -> None:
    # Given a name conveyor, kombu or Celery keeps for itself
    # When a class declares it / Then it is refused with the fix
    with pytest.raises(DeclarationError) as refused:
        type("ReservedJob", (Job,), {"queue_as": name, "perform": lambda self: None})

    message = str(refused.value)
    assert message.startswith("ReservedJob.queue_as (a name or a callable (job) -> name) must not name one of")
    assert f"but got {name!r}: choose another queue name" in message


# --- resolution at enqueue ----------------------------------------------------------------------------


def test_a_callable_queue_as_is_evaluated_with_the_job() -> None:
    class RoutedJob(Job):
        queue_as = staticmethod(lambda job: "bulk" if job.arguments[0] > 100 else "default")

        def perform(self, size: int) -> None: ...

    assert RoutedJob(500)._resolve_queue(None, "fallback") == "bulk"
    assert RoutedJob(5)._resolve_queue(None, "fallback") == "default"
    assert RoutedJob(5)._resolve_queue("explicit", "fallback") == "explicit"


def test_the_queue_resolves_from_set_then_the_class_then_the_app_default(
    enqueued_jobs: EnqueuedJobs, celery_app: Celery
) -> None:
    # Given a class declaring "reports" and one declaring nothing
    app_default = celery_app.conf.task_default_queue
    assert app_default not in ("reports", "urgent")

    # When each is enqueued, with and without set(queue=...)
    chosen = ReportsJob.set(queue="urgent").perform_later()
    declared = ReportsJob.perform_later()
    undeclared = AnywhereJob.perform_later()

    # Then the most specific level wins, on the job and in what was sent
    assert [chosen.queue_name, declared.queue_name, undeclared.queue_name] == ["urgent", "reports", app_default]
    assert [entry.queue for entry in enqueued_jobs.jobs] == ["urgent", "reports", app_default]


def test_a_callable_queue_as_returning_a_bad_name_fails_at_enqueue_naming_it(enqueued_jobs: EnqueuedJobs) -> None:
    # Given a callable queue_as that builds a name with a space (TenantJob)
    # When it is enqueued / Then ValueError (not a DeclarationError) names the callable and the value
    with pytest.raises(ValueError, match=r"TenantJob\.queue_as\(job\)") as refused:
        TenantJob.perform_later("acme")

    assert type(refused.value) is ValueError
    assert str(refused.value).startswith("TenantJob.queue_as(job) must be a queue name of 1-200")
    assert str(refused.value).endswith("but got 'tenant acme'")
    enqueued_jobs.assert_no_enqueued_jobs()
