"""Enqueue on commit: a job enqueued inside ``transaction.atomic()`` is sent once that transaction commits.

A job enqueued before its row is committed can run before the row exists. Here a job
(``perform_later``, ``perform_all_later``, ``deliver_later``) enqueued while a database
connection of this thread is inside an atomic block is handed to Django's
``transaction.on_commit`` on that database: sent after the commit, dropped on rollback,
savepoints included (Django drops the callbacks of a savepoint that rolls back, even if the
outer transaction commits). With transactions open on several databases it waits for each
of them in turn. The job id exists at once; ``job.successfully_enqueued`` is None while held,
then True or False. A class opts out with ``enqueue_after_transaction_commit = False``, a call
with ``set(after_commit=False)``.

Django's ``TestCase`` wraps each test in atomic blocks that never commit: those do not hold
jobs (a job enqueued in a test is recorded at once); an ``atomic()`` the test opens itself
does, as in production, until ``captureOnCommitCallbacks(execute=True)`` runs its callbacks.

A send that fails after the commit (the broker away) cannot raise into the code that
committed: it is logged at ERROR with the job and a command that sends it again.

Example::

    with transaction.atomic():
        report = Report.objects.create(title="Q3")
        ReportGenerationJob.perform_later(report)      # sent after the commit, with the saved row
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

from conveyor.compat.django import atomic_from_testcase
from conveyor.jobs.enqueuing import hold_enqueues_with

if TYPE_CHECKING:
    from celery import Celery

__all__ = ["enable", "hold_in_atomic", "open_transactions"]

logger = logging.getLogger("conveyor.django")


def enable() -> None:
    """Hold jobs enqueued inside atomic blocks until commit (``conveyor.django``'s app config calls it)."""
    hold_enqueues_with(hold_in_atomic)


def open_transactions() -> list[str]:
    """The database aliases of this thread inside an atomic block a test case did not open itself."""
    from django.db import connections

    return [
        connection.alias
        for connection in connections.all(initialized_only=True)
        if connection.in_atomic_block and not all(atomic_from_testcase(block) for block in connection.atomic_blocks)
    ]


def hold_in_atomic(app: Celery, job: Any) -> bool:
    """Hand ``job`` to ``on_commit`` of the open transaction, if any (and if the job allows); True if held."""
    if not getattr(job, "enqueue_after_transaction_commit", True):
        return False
    aliases = open_transactions()
    if not aliases:
        return False
    job.serialize()  # an argument that cannot travel fails here, at enqueue, not in the code that commits
    job.successfully_enqueued = None
    _send_after_commit(app, job, aliases[0])
    return True


def _send_after_commit(app: Celery, job: Any, alias: str) -> None:
    from django.db import transaction

    def committed() -> None:
        still_open = open_transactions()  # another database's transaction, still running
        if still_open:
            _send_after_commit(app, job, still_open[0])
        else:
            _send(app, job)

    transaction.on_commit(committed, using=alias)


def _send(app: Celery, job: Any) -> None:
    try:
        job._publish(app, defer=False)
    except Exception as exc:  # after the commit: raising would reach code whose transaction is done
        serialized = job.serialize()
        arguments = " ".join(f"'{json.dumps(value)}'" for value in serialized.args)
        logger.error(
            "conveyor: %s (Job ID: %s) was NOT sent after its transaction committed (%s: %s). Send it again with: "
            "celery -A <app> jobs enqueue %s %s --queue %s",
            type(job).__qualname__,
            job.job_id,
            type(exc).__name__,
            exc,
            serialized.task,  # the dotted name: a class name may be ambiguous between apps
            arguments,
            serialized.queue,
            exc_info=True,
        )
        job.successfully_enqueued = False
