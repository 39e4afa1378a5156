"""Deletes old completed reports and stale temporary files every night.

Run from ``schedule.yaml``; by hand::

    DailyCleanupJob.perform_now(90)  # {"reports": 3, "temp_files": 12}
"""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

from sqlalchemy import delete

from app.models import Report, Session
from config.settings import settings
from conveyor import Job


class DailyCleanupJob(Job):
    """Delete completed reports older than ``keep_days`` days and files in ``TMP_DIR`` older than
    ``temp_file_hours`` hours; returns how many of each were deleted."""

    queue_as = "maintenance"

    def perform(self, keep_days: int = 90, temp_file_hours: int = 24) -> dict[str, int]:
        cutoff = dt.datetime.now(dt.UTC) - dt.timedelta(days=keep_days)
        with Session.begin() as session:
            result = session.execute(delete(Report).where(Report.status == "completed", Report.created_at < cutoff))
        reports = int(result.rowcount or 0)  # type: ignore[attr-defined]
        temp_files = self._delete_old_files(Path(settings.tmp_dir), time.time() - temp_file_hours * 3600)
        self.logger.info("Daily cleanup completed: %d old reports, %d temp files deleted", reports, temp_files)
        return {"reports": reports, "temp_files": temp_files}

    def _delete_old_files(self, folder: Path, older_than: float) -> int:
        if not folder.is_dir():
            return 0
        deleted = 0
        for path in folder.rglob("*"):
            try:
                # A file another process removed meanwhile is not an error: it is gone either way.
                if path.is_file() and path.stat().st_mtime < older_than:
                    path.unlink()
                    deleted += 1
            except FileNotFoundError:
                continue
        return deleted
