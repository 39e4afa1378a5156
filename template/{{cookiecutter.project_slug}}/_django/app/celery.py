"""The service's Celery app, wired as Celery's Django guide says, with conveyor.

``conveyor.django.configure`` reads the ``CELERY_*`` settings of ``app/settings.py`` over
conveyor's defaults; ``"conveyor.django"`` in ``INSTALLED_APPS`` imports each app's ``jobs`` and
``tasks`` modules when Django starts. Queues, their order and the concurrency come from
``config/worker.yaml``, so ``celery -A app worker`` needs no flags.
"""

from __future__ import annotations

import os
from pathlib import Path

from celery import Celery

import conveyor.django
from config.settings import settings
from conveyor.broker.worker_file import apply, load_worker_config

__all__ = ["app"]

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "app.settings")
# `celery -A app flower` reads this service's flowerconfig.py (login, loopback bind, conveyor's pages)
# wherever it starts: Flower itself looks for it in the working directory only.
os.environ.setdefault("FLOWER_CONF", str(Path(__file__).resolve().parents[1] / "flowerconfig.py"))

app = Celery("app")
conveyor.django.configure(app)
WORKER_FILE = settings.worker_config or Path(__file__).resolve().parents[1] / "config" / "worker.yaml"
apply(app, load_worker_config(WORKER_FILE))
