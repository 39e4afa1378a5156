"""Enqueue after commit: jobs enqueued inside an open SQLAlchemy transaction wait for its commit.

A job enqueued while its row is not committed yet can run before the row exists (the
worker's query finds nothing). After ``defer_enqueue_until_commit(Session)``, a job
enqueued (``perform_later``, ``perform_all_later``, ``deliver_later``) in a thread where a
session made by ``Session`` has an open transaction is held on that session and sent when
the transaction commits; if it rolls back the job is dropped and logged. A session closed
without commit or rollback (one that only read: SQLAlchemy begins a transaction on first
use) sends its held jobs when it closes. ``job.successfully_enqueued`` is None while held, then True
(sent) or False (dropped). Enqueue callbacks run at ``perform_later``; the message is
sent at commit. A job class opts out with ``enqueue_after_transaction_commit = False``
(ActiveJob 7.2's name), one call with ``set(after_commit=False)``.

Example::

    defer_enqueue_until_commit(Session)
    with Session.begin() as session:
        report = Report(title="Q3"); session.add(report); session.flush()
        ReportGenerationJob.perform_later(report.id)     # sent after the commit below
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction

from conveyor.jobs import logs
from conveyor.jobs.enqueuing import hold_enqueues_with

if TYPE_CHECKING:
    from celery import Celery

    from conveyor.jobs.serialized import Enqueueable

__all__ = ["defer_enqueue_until_commit", "hold_if_in_transaction"]

_PENDING = "conveyor_pending_jobs"
_ROLLED_BACK = "conveyor_rolled_back"
_open = threading.local()  # sessions of this thread with an open root transaction, innermost last
_enabled = False


def _sessions() -> list[Session]:
    sessions: list[Session] | None = getattr(_open, "sessions", None)
    if sessions is None:
        sessions = _open.sessions = []
    return sessions


def defer_enqueue_until_commit(session_factory: Any) -> None:
    """Hold jobs enqueued inside transactions of sessions made by ``session_factory`` until commit."""
    global _enabled
    _enabled = True
    hold_enqueues_with(hold_if_in_transaction)

    @event.listens_for(session_factory, "after_transaction_create")
    def _opened(session: Session, transaction: SessionTransaction) -> None:
        if transaction.parent is None and session not in _sessions():
            _sessions().append(session)

    @event.listens_for(session_factory, "after_rollback")
    def _rolling_back(session: Session) -> None:
        # Fires just before the "after_transaction_end" of the transaction (or savepoint)
        # that rolled back; that event knows which one it was.
        session.info[_ROLLED_BACK] = True

    @event.listens_for(session_factory, "after_transaction_end")
    def _ended(session: Session, transaction: SessionTransaction) -> None:
        held = session.info.get(_PENDING, [])
        if session.info.pop(_ROLLED_BACK, False):
            # Drop what was enqueued in the transaction that rolled back or inside it; a
            # savepoint's rollback keeps the jobs of the transactions around it.
            kept = []
            for app, job, enqueued_in in held:
                if _within(enqueued_in, transaction):
                    job.successfully_enqueued = False
                    logs.logger.warning(
                        "Dropped %s (Job ID: %s): the transaction it was enqueued in rolled back",
                        type(job).__name__,
                        job.job_id,
                    )
                else:
                    kept.append((app, job, enqueued_in))
            session.info[_PENDING] = held = kept
        if transaction.parent is not None:
            return  # a savepoint ended: its jobs wait for the outer transaction
        if session in _sessions():
            _sessions().remove(session)
        # The outer transaction committed (or the session closed having only read): send.
        for app, job, _enqueued_in in session.info.pop(_PENDING, []):
            job._publish(app, defer=False)


def _within(transaction: SessionTransaction | None, ancestor: SessionTransaction) -> bool:
    while transaction is not None:
        if transaction is ancestor:
            return True
        transaction = transaction.parent
    return False


def hold_if_in_transaction(app: Celery, job: Enqueueable) -> bool:
    """Hold ``job`` on the thread's open transaction, if any (and if the job allows); True if held."""
    if not _enabled or not getattr(job, "enqueue_after_transaction_commit", True):
        return False
    sessions = _sessions()
    if not sessions:
        return False
    job.serialize()  # an argument that cannot travel fails here, at enqueue, not in the code that commits
    session = sessions[-1]
    transaction = session.get_nested_transaction() or session.get_transaction()
    session.info.setdefault(_PENDING, []).append((app, job, transaction))
    job.successfully_enqueued = None
    return True
