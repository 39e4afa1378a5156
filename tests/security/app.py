"""The app a real worker runs in the hostile-input tests (``celery -A tests.security.app worker``)."""

from __future__ import annotations

import enum
import os

import redis
from celery import Celery
from sqlalchemy import create_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, sessionmaker

import conveyor
from conveyor import Job
from conveyor.sqlalchemy.model_references import register_models

URL = os.environ.get("SECURITY_REDIS_URL", "redis://127.0.0.1:6379/8")
DONE = "conveyor-test:security:done"

app = conveyor.configure(
    Celery("security"),
    default=False,
    broker_url=URL,
    result_backend=URL,
    task_ignore_result=True,
    task_default_queue="hostile",
    worker_hijack_root_logger=False,
)


class Base(DeclarativeBase):
    pass


class Account(Base):
    __tablename__ = "accounts"
    id: Mapped[int] = mapped_column(primary_key=True)


Session = sessionmaker(create_engine("sqlite://"))
register_models(Base, Session)


class Color(enum.Enum):
    RED = 1


class RecordJob(Job):
    """Records its argument: the worker is still taking jobs."""

    def perform(self, value: object) -> None:
        redis.Redis.from_url(URL).rpush(DONE, repr(value))
