"""Sends one user a notification at once (on high_priority)."""

from __future__ import annotations

from app.mailers import UserMailer
from app.models import RecordNotFound, Session, User
from conveyor import Job, discard_on, throttle


# At most 10 notifications a minute per user; more wait in the scheduled set for the window.
@throttle(limit=10, period=60, key=lambda user_id, **_: user_id)
@discard_on(RecordNotFound)
class NotificationJob(Job):
    queue_as = "high_priority"
    priority = 0

    def perform(self, user_id: int, message: str) -> None:
        with Session() as session:
            user = session.get(User, user_id)
        if user is None:
            raise RecordNotFound(f"User {user_id} does not exist")
        UserMailer.notification(user, message).deliver_now()
