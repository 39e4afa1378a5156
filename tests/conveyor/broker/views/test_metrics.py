"""Per job class metrics: counted in memory, flushed in one pipeline, read back as counts, percentiles, a series."""

from __future__ import annotations

import time
from typing import Any

import pytest
import redis

from conveyor.broker.views import metrics


@pytest.fixture(autouse=True)
def _no_pending() -> None:
    metrics._pending.clear()


def test_counts_and_percentiles_per_class_over_the_hour_and_the_day(redis_client: redis.Redis) -> None:
    now = time.time()
    for runtime in [0.004] * 90 + [0.3] * 9 + [7.0]:
        metrics.record("ImportJob", runtime, failed=False, now=now)
    metrics.record("ImportJob", 0.01, failed=True, now=now)
    metrics.record("ImportJob", 0.004, failed=False, now=now - 5 * 3600)  # in the day, not the hour
    metrics.record("MailJob", 0.0001, failed=False, now=now)
    assert metrics.flush(redis_client) > 0
    assert metrics.flush(redis_client) == 0  # nothing twice

    summary = metrics.summary(redis_client, now)
    assert summary["ImportJob"]["hour"] == {"processed": 100, "failed": 1, "p50": 0.005, "p95": 0.5, "p99": 0.5}
    assert summary["ImportJob"]["day"]["processed"] == 101
    assert summary["MailJob"]["hour"]["p99"] == 0.001
    for key in redis_client.keys("conveyor:metrics:*"):
        assert 0 < redis_client.ttl(key) <= 24 * 3600  # bounded: a day of buckets, no more

    series = metrics.series(redis_client, now)
    assert len(series) == 288  # five-minute buckets over a day
    assert series[-1][1:] == (101, 1)
    assert sum(processed for _, processed, _ in series) == 102


def test_a_flush_that_fails_keeps_the_counts_for_the_next(redis_client: redis.Redis) -> None:
    metrics.record("ImportJob", 0.01, failed=False)

    class Down:
        def pipeline(self, **_: Any) -> Any:
            raise redis.ConnectionError("Redis is away")

    with pytest.raises(redis.ConnectionError):
        metrics.flush(Down())
    assert metrics.flush(redis_client) == 2  # processed and its histogram bucket
    assert metrics.summary(redis_client)["ImportJob"]["hour"]["processed"] == 1


def test_a_worker_records_every_job_it_runs(redis_client: redis.Redis, celery_app: Any) -> None:
    from conveyor.testing import worker_thread
    from tests.jobs import EchoJob, UnhandledJob

    with worker_thread(celery_app, queues=["default"]):
        ok = EchoJob.perform_later(1)
        bad = UnhandledJob.perform_later()
        ok.async_result.get(timeout=20)
        with pytest.raises(Exception):  # noqa: B017,PT011  # the job's own error
            bad.async_result.get(timeout=20)
    metrics.flush(redis_client)
    summary = metrics.summary(redis_client)
    assert summary["EchoJob"]["hour"]["processed"] == 1
    assert summary["UnhandledJob"]["hour"]["failed"] == 1
