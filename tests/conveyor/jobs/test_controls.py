"""@unique, @limits_concurrency, @throttle: bad declarations fail at class definition; keys and headers."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import redis

from conveyor import DeclarationError, DuplicateJobError, Job, limits_concurrency, throttle, unique
from conveyor.jobs.app_lookup import task_name
from conveyor.jobs.controls import control_headers


@pytest.mark.parametrize(
    ("declare", "message"),
    [
        (
            lambda: limits_concurrency(to=0),
            r"limits_concurrency\(to=...\) expects an int >= 1 \(e.g. to=1\), but got 0",
        ),
        (lambda: limits_concurrency(to=1, duration=-5), r"limits_concurrency\(duration=...\) expects a positive"),
        (lambda: limits_concurrency(to=1, group=""), r"limits_concurrency\(group=...\) expects a non-empty name"),
        (lambda: limits_concurrency(to=1, on_conflict="wait"), r"on_conflict=...\) expects one of 'block', 'discard'"),
        (lambda: throttle(limit=10, period=-1), r"throttle\(period=...\) expects a positive number of seconds"),
        (lambda: throttle(limit=0, period=60), r"throttle\(limit=...\) expects an int >= 1"),
        (lambda: unique(within=-600), r"unique\(within=...\) expects a positive number of seconds, e.g. within=600"),
        (lambda: unique(within=60, until="finish"), r"unique\(until=...\) expects one of 'success', 'start'"),
    ],
)
def test_a_bad_declaration_fails_when_declared_naming_the_fix(declare: Any, message: str) -> None:
    with pytest.raises(DeclarationError, match=message):
        declare()


def test_a_key_that_does_not_accept_the_jobs_arguments_fails_at_class_definition() -> None:
    with pytest.raises(
        DeclarationError,
        match=r"must accept perform's arguments \(account_id, amount\) by name.*"
        r"Write it like lambda account_id, \*\*_: \.\.\.",
    ):

        @limits_concurrency(to=1, key=lambda user_id: user_id)
        class ChargeJob(Job):
            def perform(self, account_id: int, amount: int) -> None: ...

    with pytest.raises(DeclarationError, match=r"@unique\(key=...\) expects a callable"):

        @unique(within=60, key="account_id")  # type: ignore[arg-type]
        class OtherJob(Job):
            def perform(self, account_id: int) -> None: ...


def test_keys_are_computed_from_the_arguments_by_name_with_defaults() -> None:
    @unique(within=60, key=lambda path, **_: path)
    @limits_concurrency(to=2, key=lambda account_id, **_: account_id, duration=30, group="billing")
    @throttle(limit=5, period=2, key=lambda account_id, mode, **_: f"{account_id}/{mode}")
    class ImportJob(Job):
        def perform(self, account_id: int, path: str, mode: str = "full") -> None: ...

    job = ImportJob(7, path="/in/a.csv")
    job.enqueued_at = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    job.scheduled_at = job.enqueued_at + dt.timedelta(seconds=40)  # scheduled: held until run + within
    headers = control_headers(job, "tasks.ImportJob", ([7], {"path": "/in/a.csv"}))
    assert headers == {
        "conveyor_unique": {"key": "conveyor:unique:tasks.ImportJob:/in/a.csv", "ttl_ms": 100_000, "until": "success"},
        "conveyor_limit": {"key": "conveyor:limit:billing:7", "to": 2, "duration": 30.0, "discard": False},
        "conveyor_throttle": {"key": "conveyor:throttle:tasks.ImportJob:7/full", "limit": 5, "period": 2.0},
    }


def test_the_default_unique_key_digests_the_arguments_and_queue() -> None:
    @unique(within=60)
    class DigestJob(Job):
        def perform(self, n: int) -> None: ...

    def key(n: int, queue: str) -> str:
        job = DigestJob(n).set(queue=queue)
        job.queue_name = queue
        return str(control_headers(job, "t.DigestJob", ([n], {}))["conveyor_unique"]["key"])

    assert key(1, "default") == key(1, "default")
    assert len({key(1, "default"), key(2, "default"), key(1, "low")}) == 3


@unique(within=60, on_conflict="raise")
class StrictUniqueJob(Job):
    def perform(self, n: int) -> None: ...


def test_on_conflict_raise_names_the_holder_and_sends_nothing(redis_client: redis.Redis) -> None:
    first = StrictUniqueJob.perform_later(1)
    with pytest.raises(DuplicateJobError, match=f"is a duplicate of job {first.job_id}") as raised:
        StrictUniqueJob.perform_later(1)
    assert raised.value.holder_id == first.job_id
    assert StrictUniqueJob.perform_later(2).successfully_enqueued  # another key
    queued = [key for key in redis_client.keys("default*") if redis_client.type(key) == b"list"]
    assert sum(redis_client.llen(key) for key in queued) == 2
    lock = control_headers(first, task_name(StrictUniqueJob), ([1], {}))["conveyor_unique"]["key"]
    assert redis_client.get(lock) == first.job_id.encode()
    assert 0 < redis_client.pttl(lock) <= 60_000  # a lock always has its TTL
