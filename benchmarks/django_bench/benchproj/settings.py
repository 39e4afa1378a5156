"""Settings of the benchmark's project: conveyor's defaults, no result backend, the bench's Redis."""

import os

import django

SECRET_KEY = "conveyor-bench-only"
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
INSTALLED_APPS = [
    *(["django_tasks"] if django.VERSION < (6, 0) else []),
    "conveyor.django",
    "benchapp",
]
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}

CELERY_BROKER_URL = os.environ["REDIS_URL"]
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_WORKER_SEND_TASK_EVENTS = False
CELERY_CONVEYOR_LOG_ARGUMENTS = False

TASKS = {"default": {"BACKEND": "conveyor.django.backend.ConveyorBackend", "QUEUES": ["default"]}}
