"""The service's models and the import upsert on PostgreSQL (it runs on this kind of machine)."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.conftest import missing_service

pytestmark = pytest.mark.processes
ROOT = Path(__file__).resolve().parents[2]
POSTGRES_URL = os.environ.get("CONVEYOR_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def postgres_answers() -> bool:
    import sqlalchemy

    try:
        with sqlalchemy.create_engine(POSTGRES_URL, connect_args={"connect_timeout": 3}).connect():
            return True
    except sqlalchemy.exc.OperationalError:
        return False


def test_the_import_upserts_on_postgresql(tmp_path: Path) -> None:
    if not postgres_answers():
        missing_service(f"no PostgreSQL answers at {POSTGRES_URL}")
    key = uuid.uuid4().hex[:8]
    first, second = tmp_path / "first.csv", tmp_path / "second.csv"
    first.write_text("external_id,name,amount\n" + "".join(f"{key}-{n},Item {n},{n}\n" for n in range(700)))
    second.write_text(f"external_id,name,amount\n{key}-3,Renamed,30\n")
    script = (
        "from sqlalchemy import delete, func, select\n"
        "from app.models import ImportedRecord, Session, create_all, engine\n"
        "from tasks.data_import_job import DataImportJob\n"
        "assert engine.dialect.name == 'postgresql'\n"
        "create_all()\n"
        f"print(DataImportJob.perform_now({str(first)!r}), DataImportJob.perform_now({str(second)!r}))\n"
        "with Session.begin() as s:\n"
        f"    rows = s.scalar(select(func.count()).where(ImportedRecord.external_id.like('{key}-%')))\n"
        f"    name = s.scalar(select(ImportedRecord.name).where(ImportedRecord.external_id == '{key}-3'))\n"
        f"    s.execute(delete(ImportedRecord).where(ImportedRecord.external_id.like('{key}-%')))\n"
        "print(rows, name)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "DATABASE_URL": POSTGRES_URL},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["700", "1", "700", "Renamed"]
