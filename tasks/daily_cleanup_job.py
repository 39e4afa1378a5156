"""Deletes old completed reports every night (the seed's DailyCleanupJob, run from schedule.yaml)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete

from app.models import Report, Session
from conveyor import Job


class DailyCleanupJob(Job):
    """Delete completed reports older than ``keep_days`` days; returns how many were deleted."""

    queue_as = "maintenance"

    def perform(self, keep_days: int = 90) -> int:
        cutoff = dt.datetime.now(dt.UTC) - dt.timedelta(days=keep_days)
        with Session.begin() as session:
            result = session.execute(delete(Report).where(Report.status == "completed", Report.created_at < cutoff))
        deleted = int(result.rowcount or 0)  # type: ignore[attr-defined]
        self.logger.info("Daily cleanup completed: %d old reports deleted", deleted)
        return deleted
