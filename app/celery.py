"""The service's Celery app: conveyor's defaults, settings from ``config``, jobs from ``tasks/``.

``celery -A app worker`` imports every module in ``tasks/``, so each job class
is registered under ``tasks.<module>.<ClassName>``.
"""

from __future__ import annotations

import pkgutil
from typing import Any

from celery import Celery
from celery.signals import worker_init

import conveyor
import tasks
from config.settings import settings

__all__ = ["app"]

app = Celery("app")
conveyor.configure(
    app,
    broker_url=settings.broker,
    result_backend=settings.backend,
    include=[f"tasks.{module.name}" for module in pkgutil.iter_modules(tasks.__path__)],
)


@worker_init.connect  # type: ignore[untyped-decorator]
def _create_tables(**_: Any) -> None:
    # Tables are created when a worker starts, so `make run` needs no migration step.
    from app.models import create_all

    create_all()
