"""The service: a Django project whose Celery app is built with conveyor (``celery -A app worker``)."""

from app.celery import app

__all__ = ["app"]
