"""Notifies many users: one failure does not stop the others."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select

from app.mailers import UserMailer
from app.models import Session, User
from conveyor import Batch, Job, perform_all_later
from tasks.batch_summary_job import BatchSummaryJob


class UserNotificationJob(Job):
    """Send ``message`` to each of ``user_ids``; returns how many were notified."""

    queue_as = "notifications"

    def perform(self, user_ids: list[int], message: str = "You have news.") -> int:
        with Session() as session:
            users = list(session.scalars(select(User).where(User.id.in_(user_ids))))
        notified = 0
        for user in users:
            try:
                UserMailer.notification(user, message).deliver_now()
                notified += 1
            except Exception:  # one user's failure is logged; the others still get theirs
                self.logger.exception("Failed to notify user %s", user.id)
        return notified


def enqueue_in_batches(user_ids: Iterable[int], of: int = 1000, message: str = "You have news.") -> Batch:
    """Enqueue one UserNotificationJob per ``of`` users, in one bulk enqueue, as a batch whose summary is
    logged when every job has ended (``BatchSummaryJob``); returns the batch.

    Example::

        batch = enqueue_in_batches(session.scalars(select(User.id).where(User.active)), of=1000)
        batch.status.pending                       # jobs not ended yet
    """
    ids = list(user_ids)
    batch = Batch(description=f"Notify {len(ids)} users", properties={"users": len(ids)})
    batch.on("finish", BatchSummaryJob)
    with batch.jobs():
        perform_all_later([UserNotificationJob(ids[start : start + of], message) for start in range(0, len(ids), of)])
    return batch
