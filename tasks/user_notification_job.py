"""Notifies many users: one failure does not stop the others."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select

from app.mailers import UserMailer
from app.models import Session, User
from conveyor import Job, perform_all_later


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


def enqueue_in_batches(user_ids: Iterable[int], of: int = 1000, message: str = "You have news.") -> int:
    """Enqueue one UserNotificationJob per ``of`` users, in one bulk enqueue; returns the job count.

    Example::

        enqueue_in_batches(session.scalars(select(User.id).where(User.active)), of=1000)
    """
    ids = list(user_ids)
    jobs = [UserNotificationJob(ids[start : start + of], message) for start in range(0, len(ids), of)]
    return perform_all_later(jobs)
