"""A real Django project for conveyor.django's tests, wired as Celery's Django guide wires one."""

from proj.celery import app as celery_app

__all__ = ["celery_app"]
