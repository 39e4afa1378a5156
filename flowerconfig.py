"""Flower reads this file (its default ``--conf``) when ``celery -A app flower`` starts; see config/flower.py."""

from config.flower import address, basic_auth, cookie_secret, port, tasks_columns

__all__ = ["address", "basic_auth", "cookie_secret", "port", "tasks_columns"]
