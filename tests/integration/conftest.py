"""The integration tests run on the reference service's app."""

from tests.redis_reading import queue_keys, queued_messages, scheduled_entries
from tests.service_app import _current_app, celery_app

__all__ = ["_current_app", "celery_app", "queue_keys", "queued_messages", "scheduled_entries"]
