"""An app of the pack on the Sentinel URL in ``SENTINEL_TEST_URL``.

Started as ``celery -A tests.conveyor.broker.sentinel_app worker`` by ``test_sentinel_failover``.
"""

from __future__ import annotations

import os

from celery import Celery

import conveyor

app = conveyor.configure(
    Celery("sentinel_app"),
    default=False,
    broker_url=os.environ.get("SENTINEL_TEST_URL", "redis+sentinel://127.0.0.1:26379/mymaster"),
    conveyor_redis_sentinel_password=os.environ.get("SENTINEL_TEST_PASSWORD"),
    worker_hijack_root_logger=False,
)
