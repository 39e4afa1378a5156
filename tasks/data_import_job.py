"""Imports a CSV of records in batches, resuming where it stopped.

Columns: ``external_id,name,amount``. Rows are upserted by ``external_id``, so running
the import twice leaves one row per record. The import is one continuable step whose
cursor is the number of rows committed: a deploy (SIGTERM) interrupts it after the batch
in flight is committed, and it resumes at the next row on another worker
(``conveyor.jobs.continuable``). A missing file is discarded (logged);
database errors that may pass (a locked SQLite file, a dropped connection) are retried
with polynomial backoff.
"""

from __future__ import annotations

import csv
import itertools
from typing import Any

from sqlalchemy.exc import OperationalError

from app.models import ImportedRecord, Session, engine
from conveyor import Batch, Job, discard_on, perform_all_later, polynomially_longer, retry_on, unique
from tasks.batch_summary_job import BatchSummaryJob


# A file is not enqueued for import twice while an import of it waits or runs (an hour at most).
@unique(within=3600, key=lambda file_path, **_: file_path)
@retry_on(OperationalError, wait=polynomially_longer, attempts=5)
@discard_on(FileNotFoundError)
class DataImportJob(Job):
    """Import ``file_path``; returns the number of rows read."""

    queue_as = "low_priority"
    batch_size = 500

    def perform(self, file_path: str) -> int:
        count = 0
        for step in self.step("import_rows", start=0):
            batch: list[dict[str, Any]] = []
            with open(file_path, newline="", encoding="utf-8") as source:
                for row in itertools.islice(csv.DictReader(source), step.cursor, None):  # rows committed before
                    batch.append({"external_id": row["external_id"], "name": row["name"], "amount": int(row["amount"])})
                    if len(batch) == self.batch_size:
                        step.advance(step.cursor + self._upsert(batch))  # committed: progress, and a checkpoint
                        batch = []
            if batch:
                step.advance(step.cursor + self._upsert(batch))
            count = step.cursor
        self.logger.info("Imported %d rows from %s", count, file_path)
        return count

    @staticmethod
    def _upsert(rows: list[dict[str, Any]]) -> int:
        if engine.dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert  # type: ignore[assignment]
        statement = insert(ImportedRecord).values(rows)
        statement = statement.on_conflict_do_update(
            index_elements=[ImportedRecord.external_id],
            set_={"name": statement.excluded.name, "amount": statement.excluded.amount},
        )
        with Session.begin() as session:
            session.execute(statement)
        return len(rows)


def import_files(file_paths: list[str]) -> Batch:
    """Import each file in a job of its own, as a batch whose summary is logged when all have ended.

    A file already being imported is not enqueued again (``@unique``): it is not in the batch.

    Example::

        batch = import_files(["/data/a.csv", "/data/b.csv"])
    """
    batch = Batch(description=f"Import {len(file_paths)} file(s)", properties={"files": len(file_paths)})
    batch.on("finish", BatchSummaryJob)
    with batch.jobs():
        perform_all_later([DataImportJob(path) for path in file_paths])
    return batch
