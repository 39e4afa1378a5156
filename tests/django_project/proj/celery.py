"""The project's Celery app: Django's settings, then conveyor (``celery -A proj worker``)."""

import os

from celery import Celery

import conveyor.django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "proj.settings")

app = Celery("proj")
conveyor.django.configure(app)
