"""Models of the pack's tests, on a SQLite file of their own, wired as a service wires its models.

``register_models`` makes their instances job (and mail) arguments by reference;
``defer_enqueue_until_commit`` holds jobs enqueued in a transaction of ``Session`` until it
commits. The tables are created at import, in a temporary folder removed at exit.

Example::

    with Session.begin() as session:
        session.add(User(email="ada@example.com", name="Ada"))
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path

from sqlalchemy import String, create_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, sessionmaker

from conveyor.sqlalchemy.model_references import register_models
from conveyor.sqlalchemy.transactions import defer_enqueue_until_commit

__all__ = ["Base", "Report", "Session", "User", "engine"]

_FOLDER = Path(tempfile.mkdtemp(prefix="conveyor-pack-tests-"))
atexit.register(shutil.rmtree, _FOLDER, ignore_errors=True)

engine = create_engine(f"sqlite:///{_FOLDER / 'pack.db'}")
Session = sessionmaker(engine, expire_on_commit=False)


class Base(DeclarativeBase):
    pass


class User(Base):
    """Someone the test mailers write to."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(200))


class Report(Base):
    """A row a job needs committed before it runs (``CompleteReportJob``)."""

    __tablename__ = "reports"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20), default="pending")


register_models(Base, Session)
defer_enqueue_until_commit(Session)
Base.metadata.create_all(engine)
