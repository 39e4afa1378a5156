"""What Retry would send for a dead record (``conveyor.broker.dead.retry_plan``): the preview is the stored
message itself, filtered arguments stay filtered, and a record that cannot be sent says why and sends nothing."""

from __future__ import annotations

import base64
import datetime as dt
import json
from typing import Any

import pytest
import redis

from conveyor.broker.dead.retry_plan import FILTERED, redacted, resend, retry_plan
from conveyor.errors import ConveyorError
from conveyor.records import HEADER
from tests.jobs import EchoJob  # noqa: F401  # registers the job on the app
from tests.redis_reading import queued_messages

TASK = "tests.jobs.EchoJob"  # registered on the app by importing tests.jobs


def dead(body: bytes = b'[["report-7"], {}, {}]', **changes: Any) -> dict[str, Any]:
    """A dead record keeping its original message, as the consumer files one."""
    headers = {"id": "job-1", "task": TASK, "argsrepr": "('report-7',)", **changes.pop("headers", {})}
    message = {
        "body": base64.b64encode(body).decode(),
        "content_type": "application/json",
        "content_encoding": "utf-8",
        "headers": headers,
        **changes.pop("message", {}),
    }
    return {"id": "job-1", "task": TASK, "queue": "default", "message": message, **changes}


def test_the_plan_shows_the_stored_message_and_the_control_headers_sent_again(celery_app: Any) -> None:
    # Given a record whose message holds a @unique header
    record = dead(headers={"conveyor_unique": {"key": "conveyor:unique:x:1", "ttl_ms": 1000}})

    # When its plan is made
    plan = retry_plan(celery_app, record)

    # Then it is retryable, and shows the task, queue, body and control keys that would be sent
    assert plan.retryable
    assert (plan.task, plan.queue, plan.content_type) == (TASK, "default", "application/json")
    assert plan.body_preview == '[["report-7"], {}, {}]'
    assert plan.controls == (("conveyor_unique", "conveyor:unique:x:1"),)


def test_a_long_body_is_cut_to_200_characters_in_the_preview(celery_app: Any) -> None:
    body = json.dumps([["x" * 500], {}, {}]).encode()
    preview = retry_plan(celery_app, dead(body)).body_preview
    assert len(preview) == 200
    assert preview == body.decode()[:197] + "..."


def test_filtered_arguments_stay_filtered_in_the_preview_and_the_json(celery_app: Any) -> None:
    # Given a job with log_arguments = False
    record = dead(headers={"argsrepr": FILTERED}, args=["s3cr3t"], kwargs={"token": "t"})

    # Then neither the plan nor what readers show reveals the arguments
    assert retry_plan(celery_app, record).body_preview == "[FILTERED] (log_arguments = False)"
    shown = redacted(record)
    assert (shown["args"], shown["kwargs"], shown["message"]["body"]) == (FILTERED, FILTERED, FILTERED)
    assert record["args"] == ["s3cr3t"]  # the record itself is unchanged
    assert redacted(dead()) == dead()  # a job that logs its arguments is shown as it is


REFUSED = {
    "never a message": ({"raw_entry": "Z2FyYmFnZQ=="}, "it was not a message (nothing a worker could run): delete it"),
    "pickled": ({"message": {"content_type": "application/x-python-serialize"}}, "not JSON"),
    "not UTF-8": ({"message": {"body": base64.b64encode(b"\xff\xfe").decode()}}, "its body is not UTF-8 JSON text"),
    "unregistered": ({"headers": {"task": "nowhere.NopeJob"}}, "'nowhere.NopeJob' is not a job or task registered"),
    "forged": (
        {"headers": {"conveyor_limit": {"key": "conveyor:dead", "to": 1}}},
        "its conveyor_limit header names a key that is not conveyor's (a forged message): delete it",
    ),
    "reserved queue": ({"queue": "conveyor:scheduled"}, "conveyor:scheduled"),
}


@pytest.mark.parametrize(("changes", "why"), REFUSED.values(), ids=REFUSED.keys())
def test_a_record_that_cannot_be_sent_says_why_and_resend_sends_nothing(
    celery_app: Any, redis_client: redis.Redis, changes: dict[str, Any], why: str
) -> None:
    # Given a record that cannot be sent again
    record = dead(**changes)

    # When it is planned and resent
    plan = retry_plan(celery_app, record)
    with pytest.raises(ConveyorError, match="job-1 cannot be retried: ") as refused:
        resend(celery_app, record)

    # Then the refusal says why, the error names it, and nothing was sent
    assert not plan.retryable
    assert why in str(plan.refusal)
    assert str(plan.refusal) in str(refused.value)
    assert queued_messages(redis_client, "default") == []


def test_resend_publishes_the_stored_message_as_it_was(celery_app: Any, redis_client: redis.Redis) -> None:
    # Given a record keeping its original message, with a control header
    record = dead(headers={"conveyor_unique": {"key": "conveyor:unique:x:1", "ttl_ms": 1000}}, priority=3)

    # When it is resent
    resend(celery_app, record)

    # Then its queue holds that message: same body, same headers, at its priority
    [message] = queued_messages(redis_client, "default")
    assert message["body"] == record["message"]["body"]
    assert message["headers"] == record["message"]["headers"]
    assert message["decoded_body"] == [["report-7"], {}, {}]
    assert message["properties"]["priority"] == 3


def test_resend_marks_the_job_enqueued_now_and_changes_nothing_else(celery_app: Any, redis_client: redis.Redis) -> None:
    # Given a dead job first enqueued a day ago (conveyor's header records when)
    header = {"enqueued_at": "2026-12-06T09:00:00+00:00", "queue": "default", "priority": 5, "executions": 3}
    record = dead(headers={HEADER: header})
    before = dt.datetime.now(dt.UTC)
    # When it is resent
    resend(celery_app, record)
    # Then the worker sees it enqueued now (its log line said the first enqueue's time), the rest as it was
    [message] = queued_messages(redis_client, "default")
    sent = message["headers"][HEADER]
    assert dt.datetime.fromisoformat(sent["enqueued_at"]) >= before
    assert {key: value for key, value in sent.items() if key != "enqueued_at"} == {
        key: value for key, value in header.items() if key != "enqueued_at"
    }
    assert record["message"]["headers"][HEADER]["enqueued_at"] == "2026-12-06T09:00:00+00:00"  # the record as it was
