"""``conveyor.records``: the job header written at enqueue and read on the worker, and dead-set records."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from conveyor.records import dead_record, job_header, parse_job_header

ENQUEUED = dt.datetime(2026, 11, 30, 14, 2, 11, tzinfo=dt.UTC)


def test_a_header_survives_the_trip_through_json_and_back() -> None:
    # Given the header of a retried, continuable job
    progress = {"completed": ["initialize"], "current": ["process", 500]}
    header = job_header(
        ENQUEUED, ENQUEUED + dt.timedelta(minutes=5), "low", 3, {"retry_on:0": 2}, error="E: x", progress=progress
    )
    # When the worker parses it
    parsed = parse_job_header(header)
    # Then it reads the same values, times as ISO 8601
    assert parsed == header
    assert parsed["enqueued_at"] == "2026-11-30T14:02:11+00:00"
    assert parsed["continuation"] == progress
    assert parsed["resumptions"] == 0


def test_a_plain_header_has_no_error_nor_continuation_keys() -> None:
    header = job_header(None, None, None, None, {})
    assert header == {
        "enqueued_at": None,
        "scheduled_at": None,
        "queue": None,
        "priority": None,
        "exception_executions": {},
    }
    assert parse_job_header(header) == header


@pytest.mark.parametrize("value", [None, "conveyor", ["a"], 42])
def test_a_missing_or_malformed_header_reads_as_empty(value: Any) -> None:
    assert parse_job_header(value) == parse_job_header({}) == job_header(None, None, None, None, {})


def test_fields_of_the_wrong_type_read_as_absent() -> None:
    # Given a header a foreign sender filled with wrong types
    raw = {
        "enqueued_at": 1700000000,
        "queue": ["default"],
        "priority": True,
        "exception_executions": "many",
        "error": 7,
        "continuation": "half",
        "resumptions": "3",
    }
    # When it is parsed
    parsed = parse_job_header(raw)
    # Then every wrong value is dropped, never passed on
    assert parsed == {
        "enqueued_at": None,
        "scheduled_at": None,
        "queue": None,
        "priority": None,
        "exception_executions": {},
        "continuation": {},
        "resumptions": 0,
    }


def test_a_dead_record_has_the_keys_every_reader_relies_on() -> None:
    record = dead_record("3c75", "retries exhausted", task="tasks.report_job.ReportJob", queue="low", attempts="3")
    assert record == {
        "id": "3c75",
        "task": "tasks.report_job.ReportJob",
        "job_class": "ReportJob",
        "queue": "low",
        "reason": "retries exhausted",
        "error": "retries exhausted",
        "attempts": 3,
    }


def test_a_dead_record_keeps_its_error_and_extra_fields_and_an_explicit_job_class() -> None:
    record = dead_record("1", "failed", error="ValueError: bad", task="x.Y", job_class="Custom", backtrace="tb")
    assert (record["error"], record["job_class"], record["backtrace"]) == ("ValueError: bad", "Custom", "tb")


def test_a_dead_record_without_a_task_or_with_a_task_of_another_type_stays_readable() -> None:
    assert dead_record("1", "not a message")["job_class"] == "?"
    odd = dead_record("2", "unknown task", task=["a", "list"])
    assert odd["task"] == "['a', 'list']"
    assert odd["attempts"] == 1
