"""The reference service's jobs use the controls where its work needs them, on the real Redis."""

from __future__ import annotations

import redis

from tasks.data_import_job import DataImportJob
from tasks.notification_job import NotificationJob
from tasks.report_generation_job import ReportGenerationJob
from tests.redis_reading import queued_messages


def test_an_import_of_a_file_is_not_enqueued_twice_while_one_waits(redis_client: redis.Redis) -> None:
    first = DataImportJob.perform_later("/data/in.csv")
    again = DataImportJob.perform_later("/data/in.csv")
    other = DataImportJob.perform_later("/data/other.csv")

    assert [job.successfully_enqueued for job in (first, again, other)] == [True, False, True]
    assert again.duplicate_of == first.job_id
    assert [m["headers"]["id"] for m in queued_messages(redis_client, "low_priority")] == [first.job_id, other.job_id]


def test_report_generation_is_limited_per_report_and_notifications_throttled_per_user(
    redis_client: redis.Redis,
) -> None:
    ReportGenerationJob.perform_later(42)
    NotificationJob.perform_later(7, "hello")
    [report] = queued_messages(redis_client, "low_priority")
    [notification] = queued_messages(redis_client, "high_priority")

    assert report["headers"]["conveyor_limit"] == {
        "key": "conveyor:limit:tasks.report_generation_job.ReportGenerationJob:42",
        "to": 1,
        "duration": 900.0,
        "discard": False,
    }
    assert notification["headers"]["conveyor_throttle"] == {
        "key": "conveyor:throttle:tasks.notification_job.NotificationJob:7",
        "limit": 10,
        "period": 60.0,
    }
