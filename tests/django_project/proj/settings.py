"""Settings of the test project: PostgreSQL (DJANGO_POSTGRES_DB) or SQLite files, the test Redis."""

import os

import django

SECRET_KEY = "conveyor-tests-only"
DEBUG = False
ALLOWED_HOSTS = ["testserver", "127.0.0.1", "localhost"]
USE_TZ = True
TIME_ZONE = "UTC"
ROOT_URLCONF = "proj.urls"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    *(["django_tasks"] if django.VERSION < (6, 0) else []),
    "conveyor.django",
    "reports",
]

_DB_DIR = os.environ.get("DJANGO_DB_DIR", "/tmp/conveyor-django-tests")
# The tests give a PostgreSQL database where one answers (CI has one); "other" stays SQLite, so a
# job held on one alias while the other commits crosses engines too.
_POSTGRES_DB = os.environ.get("DJANGO_POSTGRES_DB")
DATABASES = {
    "default": (
        {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": _POSTGRES_DB,
            "USER": os.environ.get("DJANGO_POSTGRES_USER", "postgres"),
            "HOST": os.environ.get("DJANGO_POSTGRES_HOST", "127.0.0.1"),
            "PORT": os.environ.get("DJANGO_POSTGRES_PORT", "5432"),
            # Who holds a connection, as pg_stat_activity shows it: the tests count the worker's
            "OPTIONS": {"application_name": os.environ.get("DJANGO_APPLICATION_NAME", "conveyor-tests")},
        }
        if _POSTGRES_DB
        else {"ENGINE": "django.db.backends.sqlite3", "NAME": os.path.join(_DB_DIR, "default.sqlite3")}
    ),
    "other": {"ENGINE": "django.db.backends.sqlite3", "NAME": os.path.join(_DB_DIR, "other.sqlite3")},
}

CELERY_BROKER_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/14")
CELERY_RESULT_BACKEND = CELERY_BROKER_URL
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_CONVEYOR_SCHEDULED_POLL_INTERVAL = 0.2
# beat's schedule file (the tests write one)
CELERY_CONVEYOR_SCHEDULE_FILE = os.environ.get(
    "CONVEYOR_SCHEDULE_FILE", os.path.join(os.path.dirname(os.path.dirname(__file__)), "schedule.yaml")
)

TASKS = {
    "default": {
        "BACKEND": "conveyor.django.backend.ConveyorBackend",
        "QUEUES": ["default", "django_tasks"],
    }
}
