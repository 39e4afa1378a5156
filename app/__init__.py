"""The service: a Celery app built with conveyor (``celery -A app worker``)."""

from app.celery import app

__all__ = ["app"]
