"""The project's Celery app, wired as docs/django.md says (``celery -A benchproj worker``)."""

import os

from celery import Celery

import conveyor.django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchproj.settings")

app = Celery("benchproj")
conveyor.django.configure(app)
