"""Delivers one webhook: POSTs an event as JSON to a subscriber's URL (an ``async def perform``).

Every job of a worker process shares one ``httpx.AsyncClient`` (its connection pool), made on
the process's event loop when it starts and closed when the worker stops (``@conveyor.on_loop_start``
and ``on_loop_stop``): a client made per job would open a connection per job, and one made at import
would be bound to no loop. A timeout, a connection error or a 5xx answer are retried with
polynomial backoff; a 4xx answer is the subscriber refusing the event: it is discarded (logged).
A subscriber that hangs past the soft time limit (30 s) is cancelled at its await and retried too.
The job id goes in the ``Idempotency-Key`` header, so a subscriber can ignore a delivery it already
took (a retried or redelivered job sends the same key).

Start a worker for many at once: ``celery -A app worker -P threads -c 100 -Q notifications`` (README,
"Async jobs"). The default prefork worker runs them too, one at a time per process.
"""

from __future__ import annotations

from typing import Any

import httpx
from celery.exceptions import SoftTimeLimitExceeded

import conveyor
from conveyor import Job, discard_on, polynomially_longer, retry_on

#: Seconds a subscriber has to answer (connect, send, read).
TIMEOUT_S = 10.0

_client: httpx.AsyncClient | None = None


@conveyor.on_loop_start
async def open_http_client() -> None:
    global _client
    _client = httpx.AsyncClient(timeout=TIMEOUT_S, headers={"User-Agent": "conveyor-webhooks/1.0"})


@conveyor.on_loop_stop
async def close_http_client() -> None:
    global _client
    if _client is not None:
        await _client.aclose()
        _client = None


def http_client() -> httpx.AsyncClient:
    """This process's client (made when its event loop started)."""
    if _client is None:
        raise RuntimeError("the HTTP client is made when the event loop starts: run the job as a job")
    return _client


class SubscriberError(Exception):
    """The subscriber answered 5xx: it may take the event later."""


class SubscriberRefusedError(Exception):
    """The subscriber answered 4xx: sending the event again will not change its answer."""


# A subscriber that hangs past the soft limit is cancelled at its await and tried again later, like a timeout.
@retry_on(
    httpx.TimeoutException,
    httpx.TransportError,
    SubscriberError,
    SoftTimeLimitExceeded,
    wait=polynomially_longer,
    attempts=8,
)
@discard_on(SubscriberRefusedError)
class WebhookDeliveryJob(Job):
    """POST ``event`` to ``url``; returns the subscriber's status code."""

    queue_as = "notifications"  # the service's queue for telling others that something happened
    soft_time_limit, time_limit = 30, 60

    async def perform(self, url: str, event: dict[str, Any]) -> int:
        response = await http_client().post(url, json=event, headers={"Idempotency-Key": self.job_id})
        if response.status_code >= 500:
            raise SubscriberError(f"{url} answered {response.status_code}")
        if response.status_code >= 400:
            raise SubscriberRefusedError(f"{url} answered {response.status_code}: {response.text[:200]}")
        return response.status_code
