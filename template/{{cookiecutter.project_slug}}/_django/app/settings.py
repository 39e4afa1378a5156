"""Django settings of {{ cookiecutter.service_name }}: the environment (``config/settings.py``) decides.

``DATABASE_URL`` (dj-database-url: ``sqlite:///var/db.sqlite3`` by default{% if cookiecutter.database == "postgresql" %}, PostgreSQL here{% endif %}),
``REDIS_URL`` (broker, results, beat's schedule), ``APP_ENV``; Celery and conveyor read the
``CELERY_*`` names below (``conveyor.django.configure``).
"""

from __future__ import annotations

from pathlib import Path

import dj_database_url
import django
from django.core.exceptions import ImproperlyConfigured

from config.settings import settings

BASE_DIR = Path(__file__).resolve().parents[1]

if settings.app_env == "production" and not settings.django_secret_key:
    raise ImproperlyConfigured("DJANGO_SECRET_KEY is required when APP_ENV is production")
# Outside production a fixed key is fine: it signs nothing anyone else sees
SECRET_KEY = settings.django_secret_key or "development-only-not-secret"
DEBUG = settings.app_env == "development"
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]
ALLOWED_HOSTS += [host.strip() for host in settings.allowed_hosts.split(",") if host.strip()]
USE_TZ = True
TIME_ZONE = "UTC"
ROOT_URLCONF = "app.urls"
WSGI_APPLICATION = "app.wsgi.application"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    # Django 5.2: the django.tasks backport (Django 6 has it built in)
    *(["django_tasks"] if django.VERSION < (6, 0) else []),
    "conveyor.django",
    "reports",
]

DATABASES = {"default": dj_database_url.parse(settings.database_url, conn_max_age=0)}

CELERY_BROKER_URL = settings.broker
CELERY_RESULT_BACKEND = settings.backend
CELERY_REDBEAT_REDIS_URL = settings.redis_url
# A redis+sentinel:// REDIS_URL: conveyor derives the broker's, results', redbeat's and Flower's settings.
CELERY_CONVEYOR_REDIS_SENTINEL_PASSWORD = settings.redis_sentinel_password
# In production a worker refuses to start on a Redis that evicts keys.
CELERY_CONVEYOR_PRODUCTION = settings.app_env == "production"
CELERY_CONVEYOR_QUEUE_NAME_PREFIX = settings.queue_name_prefix
CELERY_CONVEYOR_STORE_RESULTS = settings.store_results
CELERY_CONVEYOR_SCHEDULE_FILE = settings.schedule_file or str(BASE_DIR / "schedule.yaml")

# django.tasks' @task functions run on conveyor's workers (docs: conveyor's docs/django.md)
TASKS = {
    "default": {
        "BACKEND": "conveyor.django.backend.ConveyorBackend",
        "QUEUES": ["high_priority", "default", "notifications", "low_priority", "mailers", "maintenance"],
    }
}
