"""``WebhookDeliveryJob`` against a real HTTP server on loopback (the reference service's async job)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from conveyor.devserver import free_port
from conveyor.testing import EnqueuedJobs
from tasks import webhook_delivery_job
from tasks.webhook_delivery_job import WebhookDeliveryJob

EVENT = {"type": "report.ready", "report_id": 42}


class Subscriber(ThreadingHTTPServer):
    """Answers each POST with the status named by its path (``/status/503``), and keeps what it received."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        super().__init__(("127.0.0.1", 0), _Handler)

    def url(self, status: int) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/status/{status}"


class _Handler(BaseHTTPRequestHandler):
    server: Subscriber

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.received.append({"body": json.loads(body), "headers": dict(self.headers)})
        status = int(self.path.rsplit("/", 1)[1])
        self.send_response(status)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *_: Any) -> None:
        pass


@pytest.fixture
def subscriber() -> Iterator[Subscriber]:
    server = Subscriber()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(5)


def test_it_posts_the_event_with_the_job_id_as_idempotency_key_through_one_shared_client(
    subscriber: Subscriber,
) -> None:
    first, second = WebhookDeliveryJob(subscriber.url(200), EVENT), WebhookDeliveryJob(subscriber.url(201), EVENT)
    assert first.perform_now() == 200
    client = webhook_delivery_job.http_client()
    assert second.perform_now() == 201
    assert webhook_delivery_job.http_client() is client  # made once, on the process's loop
    assert [request["body"] for request in subscriber.received] == [EVENT, EVENT]
    assert [request["headers"]["Idempotency-Key"] for request in subscriber.received] == [first.job_id, second.job_id]


def test_a_5xx_answer_is_retried_later_and_a_4xx_answer_discarded(
    subscriber: Subscriber, enqueued_jobs: EnqueuedJobs
) -> None:
    WebhookDeliveryJob.perform_now(subscriber.url(503), EVENT)
    [retry] = enqueued_jobs.jobs
    assert retry.job_class is WebhookDeliveryJob
    assert retry.args == (subscriber.url(503), EVENT)
    enqueued_jobs.clear()

    assert WebhookDeliveryJob.perform_now(subscriber.url(422), EVENT) is None
    enqueued_jobs.assert_no_enqueued_jobs()
    assert len(subscriber.received) == 2


def test_a_subscriber_that_does_not_answer_is_retried(enqueued_jobs: EnqueuedJobs) -> None:
    closed = f"http://127.0.0.1:{free_port()}/hook"  # nothing listens there: connection refused
    WebhookDeliveryJob.perform_now(closed, EVENT)
    [retry] = enqueued_jobs.jobs
    assert retry.args == (closed, EVENT)
