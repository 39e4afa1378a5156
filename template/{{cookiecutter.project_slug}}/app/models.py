"""The service's models (SQLAlchemy 2), on ``DATABASE_URL`` (a SQLite file by default).

Example::

    with Session.begin() as session:
        session.add(User(email="ada@example.com", name="Ada"))
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from sqlalchemy import DateTime, String, {% if cookiecutter.example_jobs == "yes" %}Text, {% endif %}create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, sessionmaker

from config.settings import settings
from conveyor import RecordNotFound
from conveyor.private_files import private_dir, private_file, tighten
from conveyor.sqlalchemy.model_references import register_models
from conveyor.sqlalchemy.transactions import defer_enqueue_until_commit

__all__ = ["Base", {% if cookiecutter.example_jobs == "yes" %}"ImportedRecord", {% endif %}"RecordNotFound", {% if cookiecutter.example_jobs == "yes" %}"Report", {% endif %}"Session", "User", "create_all", "engine"]


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


engine = create_engine(settings.database_url)
Session = sessionmaker(engine, expire_on_commit=False)


class Base(DeclarativeBase):
    pass


class User(Base):
    """A user of the service."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_utcnow)
{% if cookiecutter.example_jobs == "yes" %}

class Report(Base):
    """A report that ``ReportGenerationJob`` completes."""

    __tablename__ = "reports"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20), default="pending")
    recipient: Mapped[str | None] = mapped_column(String(320), default=None)
    data: Mapped[str | None] = mapped_column(Text, default=None)  # JSON: the report's figures
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_utcnow)
    completed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), default=None)


class ImportedRecord(Base):
    """A row imported by ``DataImportJob``; ``external_id`` is the natural key (re-imports update)."""

    __tablename__ = "imported_records"

    id: Mapped[int] = mapped_column(primary_key=True)
    external_id: Mapped[str] = mapped_column(String(100), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    amount: Mapped[int] = mapped_column(default=0)
    imported_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_utcnow)
{% endif %}

# Model instances passed to perform_later/deliver_later travel as references and are loaded again.
register_models(Base, Session)
# Jobs enqueued inside a transaction are sent when it commits, and dropped if it rolls back.
defer_enqueue_until_commit(Session)


def create_all() -> None:
    """Create the tables (and the SQLite file's folder) if missing."""
    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        # The rows are the service's data: the file 0600 before SQLite opens it, its folder 0700.
        private_dir(Path(url.database).parent)
        if not Path(url.database).exists():
            private_file(url.database, b"")
        tighten(url.database, 0o600)
    Base.metadata.create_all(engine)
