"""The service's Celery app: conveyor's defaults, settings from ``config``, queues from
``config/worker.yaml``, jobs from ``tasks/``.

``celery -A app worker`` imports every module in ``tasks/``, so each job class
is registered under ``tasks.<module>.<ClassName>``.
"""

from __future__ import annotations

import os
import pkgutil
from pathlib import Path
from typing import Any

from celery import Celery
from celery.signals import worker_init

import conveyor
import tasks
from config.settings import settings
from conveyor.broker.worker_file import apply, load_worker_config

__all__ = ["app"]

# `celery -A app flower` reads this service's flowerconfig.py (login, loopback bind, conveyor's pages)
# wherever it starts: Flower itself looks for it in the working directory only, and started
# elsewhere it would listen on every address without a login.
os.environ.setdefault("FLOWER_CONF", str(Path(__file__).resolve().parents[1] / "flowerconfig.py"))

app = Celery("app")
conveyor.configure(
    app,
    broker_url=settings.broker,
    result_backend=settings.backend,
    redbeat_redis_url=settings.redis_url,
    # A redis+sentinel:// REDIS_URL: conveyor derives the broker's, results', redbeat's and Flower's settings.
    conveyor_redis_sentinel_password=settings.redis_sentinel_password,
    conveyor_mail_backend=settings.mail_backend,
    conveyor_mail_default_from=settings.mail_from,
    conveyor_mail_file_dir=settings.mail_file_dir,
    conveyor_smtp_host=settings.smtp_host,
    conveyor_smtp_port=settings.smtp_port,
    conveyor_smtp_username=settings.smtp_user,
    conveyor_smtp_password=settings.smtp_password,
    conveyor_smtp_starttls=settings.smtp_starttls,
    conveyor_smtp_ssl=settings.smtp_ssl,
    conveyor_smtp_timeout=settings.smtp_timeout,
    # In production a worker refuses to start on a Redis that evicts keys (conveyor.broker.eviction).
    conveyor_production=settings.app_env == "production",
    # QUEUE_NAME_PREFIX=production: every queue in Redis is production_<name> (ActiveJob's queue_name_prefix).
    conveyor_queue_name_prefix=settings.queue_name_prefix,
    # STORE_RESULTS=true: every job stores its result (job.async_result); off by default, as ActiveJob.
    conveyor_store_results=settings.store_results,
    conveyor_schedule_file=settings.schedule_file or str(Path(__file__).resolve().parents[1] / "schedule.yaml"),
    include=[f"tasks.{module.name}" for module in pkgutil.iter_modules(tasks.__path__)],
)
# Queues, their fetch order and the concurrency, so `celery -A app worker` needs no flags.
apply(app, load_worker_config(settings.worker_config or Path(__file__).resolve().parents[1] / "config" / "worker.yaml"))


@worker_init.connect  # type: ignore[untyped-decorator]
def _create_tables(**_: Any) -> None:
    # Tables are created when a worker starts, so `make run` needs no migration step.
    from app.models import create_all

    create_all()
