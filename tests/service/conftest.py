"""The reference service's tests run on its app."""

from tests.service_app import _current_app, celery_app

__all__ = ["_current_app", "celery_app"]
