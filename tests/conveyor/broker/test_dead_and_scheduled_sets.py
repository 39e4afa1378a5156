"""The dead set, the scheduled set, the eviction check and bad-message reasons, on the test Redis."""

from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import redis
from celery import Celery

import conveyor
from conveyor.broker.dead.dead_set import DEAD_JOBS_KEY, DEAD_KEY, DeadSet
from conveyor.broker.eviction import eviction_problem
from conveyor.broker.fetch.consumer import unknown_task_reason
from conveyor.broker.scheduled import scheduled_set
from conveyor.errors import ConfigurationError, ConveyorError
from tests.redis_reading import queued_messages


def record(job_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": job_id,
        "task": "tests.jobs.EchoJob",
        "job_class": "EchoJob",
        "args": [job_id],
        "kwargs": {},
        "queue": "default",
        "priority": 5,
        "meta": {"exception_executions": {"k": 3}},
        "error": "E",
        **extra,
    }


def test_the_dead_set_keeps_the_newest_up_to_its_cap(redis_client: redis.Redis) -> None:
    dead = DeadSet(redis_client, max_jobs=3, timeout=3600)
    now = time.time()
    for n in range(5):
        dead.add(record(f"job-{n}"), now=now + n)

    assert [r["id"] for r in dead.list()] == ["job-4", "job-3", "job-2"]
    assert redis_client.hlen(DEAD_JOBS_KEY) == 3  # the record went with its id


def test_the_dead_set_drops_jobs_older_than_its_timeout(redis_client: redis.Redis) -> None:
    dead = DeadSet(redis_client, max_jobs=100, timeout=60)
    now = time.time()
    dead.add(record("old"), now=now - 120)
    dead.add(record("new"), now=now)

    assert [r["id"] for r in dead.list()] == ["new"]
    assert redis_client.zcard(DEAD_KEY) == 1


def test_retry_sends_the_job_again_with_its_attempts_counted_afresh(redis_client: redis.Redis, celery_app: Any) -> None:
    from tests.jobs import EchoJob  # registered on the app, as a worker's jobs are

    assert EchoJob.__name__ in record("job-r")["task"]
    dead = DeadSet(redis_client)
    dead.add(record("job-r"))

    assert dead.retry(celery_app, "job-r") is True
    assert dead.retry(celery_app, "job-r") is False  # gone: a second retry sends nothing

    [message] = queued_messages(redis_client, "default")
    assert message["headers"]["id"] == "job-r"
    assert message["headers"]["retries"] == 0
    assert message["headers"]["conveyor"]["exception_executions"] == {}
    assert message["decoded_body"][0] == ["job-r"]
    assert dead.count() == 0


def test_delete_clear_and_an_entry_that_was_never_a_message(redis_client: redis.Redis, celery_app: Any) -> None:
    dead = DeadSet(redis_client)
    for n in range(3):
        dead.add(record(f"job-{n}"))
    dead.add({"id": "garbage", "queue": "default", "raw_entry": "Z2FyYmFnZQ==", "error": "unparsable"})

    with pytest.raises(ConveyorError, match=r"garbage cannot be retried: it was not a message .*: delete it"):
        dead.retry(celery_app, "garbage")
    assert dead.get("garbage") is not None  # kept, since it was not sent
    assert dead.delete("job-0") is True
    assert dead.delete("job-0") is False
    assert dead.clear() == 3
    assert redis_client.exists(DEAD_KEY, DEAD_JOBS_KEY) == 0


def test_move_due_moves_only_due_jobs_to_their_queue_key(redis_client: redis.Redis) -> None:
    now = time.time()
    scheduled_set.add(redis_client, "q1", '{"n": 1}', now - 1, "a")
    scheduled_set.add(redis_client, "q1", '{"n": 2}', now + 60, "b")

    assert scheduled_set.move_due(redis_client, now=now) == 1

    assert redis_client.lrange("q1", 0, -1) == [b'{"n": 1}']
    assert [entry["id"] for entry in scheduled_set.entries(redis_client)] == ["b"]


def test_concurrent_pollers_move_each_due_job_exactly_once(redis_client: redis.Redis) -> None:
    now = time.time()
    with redis_client.pipeline() as pipe:
        for n in range(2000):
            scheduled_set.add(pipe, "q2", json.dumps({"n": n}), now - 1, str(n))
        pipe.execute()
    from tests.conftest import TEST_REDIS_URL

    clients = [redis.Redis.from_url(TEST_REDIS_URL) for _ in range(4)]
    moved = [0] * 4
    start = threading.Barrier(4)

    def poll(index: int) -> None:
        start.wait()
        while (count := scheduled_set.move_due(clients[index], now=now, limit=50)) > 0:
            moved[index] += count

    threads = [threading.Thread(target=poll, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sum(moved) == 2000
    items = [json.loads(item)["n"] for item in redis_client.lrange("q2", 0, -1)]
    assert sorted(items) == list(range(2000))  # each once
    assert scheduled_set.count(redis_client) == 0


def test_the_poller_thread_moves_a_job_once_it_is_due(redis_client: redis.Redis) -> None:
    from tests.conftest import TEST_REDIS_URL

    scheduled_set.add(redis_client, "q3", "m", time.time() + 0.5, "x")
    poller = scheduled_set.Poller(TEST_REDIS_URL, interval=0.1)
    poller.start()
    try:
        assert redis_client.brpop(["q3"], timeout=5) == (b"q3", b"m")
    finally:
        poller.stop()
    assert not poller.is_alive()


def test_an_evicting_redis_is_named_with_the_fix(redis_client: redis.Redis) -> None:
    class Evicting:
        def config_get(self, name: str) -> dict[str, str]:
            return {name: "allkeys-lru"}

    class Locked:
        def config_get(self, name: str) -> dict[str, str]:
            raise redis.ResponseError("unknown command 'CONFIG'")

    assert eviction_problem(Evicting()) == (
        "Redis evicts keys (maxmemory-policy allkeys-lru): queued and scheduled jobs can be deleted when it is full. "
        "Set `maxmemory-policy noeviction` in redis.conf (or CONFIG SET maxmemory-policy noeviction)"
    )
    assert "could not read Redis' maxmemory-policy (ResponseError" in str(eviction_problem(Locked()))
    policy = redis_client.config_get("maxmemory-policy")["maxmemory-policy"]
    assert (eviction_problem(redis_client) is None) == (policy == "noeviction")


def test_a_scheduled_threshold_near_the_visibility_timeout_is_refused() -> None:
    with pytest.raises(ConfigurationError, match=r"conveyor_scheduled_threshold \(2000 s\) must be under half"):
        conveyor.configure(Celery("t"), default=False, conveyor_scheduled_threshold=2000)


def test_an_unknown_task_is_explained_without_importing_its_module(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "conveyor_marker_mod.py").write_text("import sys\nsys.conveyor_marker_imported = True\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    app = Celery("reasons", include=["conveyor_marker_mod"])

    assert unknown_task_reason(app, "conveyor_marker_mod.NopeJob") == (
        "unknown job or task 'conveyor_marker_mod.NopeJob': conveyor_marker_mod is in the app's include list but "
        "does not define it (if the job is new, the worker started before it existed: restart the worker)"
    )
    assert unknown_task_reason(app, "json.NopeJob") == (
        "unknown job or task 'json.NopeJob': no task of that name is registered on this worker "
        "(its module is not in the app's include list)"
    )
    assert "conveyor_marker_mod" not in sys.modules
    assert not hasattr(sys, "conveyor_marker_imported")


def test_every_worker_runs_a_poller_that_stops_with_it(redis_client: redis.Redis, celery_app: Any) -> None:
    from conveyor.testing import worker_thread

    def pollers() -> int:
        return sum(thread.name == "conveyor-scheduled-poller" for thread in threading.enumerate())

    before = pollers()
    with worker_thread(celery_app, queues=["default"]):
        assert pollers() == before + 1
    assert pollers() == before


def test_a_job_module_written_after_the_worker_started_is_named_without_being_imported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib

    from conveyor.broker.fetch import consumer

    package = tmp_path / "conveyor_marker_pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "old_job.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.import_module("conveyor_marker_pkg")
    app = Celery("reasons", include=["conveyor_marker_pkg.old_job"])
    monkeypatch.setattr(consumer, "_STARTED", time.time())
    (package / "new_job.py").write_text("import sys\nsys.conveyor_marker_imported = True\n")
    future = time.time() + 5
    import os

    os.utime(package / "new_job.py", (future, future))  # written after the worker started

    assert unknown_task_reason(app, "conveyor_marker_pkg.new_job.NewJob") == (
        f"unknown job or task 'conveyor_marker_pkg.new_job.NewJob': {package / 'new_job.py'} was written after this "
        "worker started (the worker started before this job existed): restart the worker"
    )
    assert "conveyor_marker_pkg.new_job" not in sys.modules
    assert not hasattr(sys, "conveyor_marker_imported")
    # A package the app does not include is not searched at all.
    assert "not in the app's include list" in unknown_task_reason(app, "json.new_job.NewJob")
