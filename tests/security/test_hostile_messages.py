"""Hostile input on the broker: a real worker imports nothing a message names, never exits, files each as dead.

Each message below used to make the worker import a module it names (a task name, an
enum's class, a mailer's path, a model's class) before any check; ``venv.__main__.x``
made the worker exit. ``tests/security/marker_module.py`` leaves a marker in Redis when it
is imported, so "nothing was imported" is asserted on the worker process itself.
"""

from __future__ import annotations

import base64
import json
import os
import sys
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
import redis

from conveyor.broker.dead.dead_set import DeadSet
from tests.conftest import TEST_REDIS_URL, require_redis
from tests.integration.services import Service
from tests.security.marker_module import MARKER

pytestmark = [pytest.mark.redis, pytest.mark.processes]

SECURITY_REDIS_URL = urlunsplit(urlsplit(TEST_REDIS_URL)._replace(path="/8"))
DONE = "conveyor-test:security:done"
HOSTILE_MODULE = "tests.security.marker_module"


@pytest.fixture(scope="module")
def client() -> Iterator[redis.Redis]:
    require_redis()
    client = redis.Redis.from_url(SECURITY_REDIS_URL)
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


@pytest.fixture(scope="module")
def security_app(client: redis.Redis) -> Any:
    os.environ["SECURITY_REDIS_URL"] = SECURITY_REDIS_URL
    from tests.security.app import app

    app.conf.broker_url = app.conf.result_backend = SECURITY_REDIS_URL
    return app


@pytest.fixture(scope="module")
def worker(security_app: Any, client: redis.Redis) -> Iterator[Service]:
    # The solo pool runs jobs in the worker process itself: anything that escapes a job ends the worker.
    service = Service(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "tests.security.app",
            "worker",
            "--pool",
            "solo",
            "-Q",
            "hostile",
            "--without-mingle",
            "--without-gossip",
            "--loglevel",
            "INFO",
        ],
        env={**os.environ, "SECURITY_REDIS_URL": SECURITY_REDIS_URL},
    )
    service.wait_for("ready")
    yield service
    service.stop()


def still_consuming(app: Any, client: redis.Redis, worker: Service) -> None:
    """A good job sent after the hostile ones runs: the worker went on."""
    marker = f"after-{uuid.uuid4()}"
    app.send_task("tests.security.app.RecordJob", args=[marker], queue="hostile")
    popped = client.blpop([DONE], timeout=30)
    assert popped is not None, worker.output[-3000:]
    assert popped[1].decode() == repr(marker)
    assert worker.process.poll() is None


def dead_reasons(client: redis.Redis) -> dict[str, str]:
    return {record["id"]: record["error"] for record in DeadSet(client).list(limit=1000)}


@pytest.mark.parametrize("name", ["venv.__main__.x", "this.x", f"{HOSTILE_MODULE}.x", "os.system"])
def test_a_task_name_imports_nothing_and_the_message_is_dead(
    security_app: Any, client: redis.Redis, worker: Service, name: str
) -> None:
    job_id = security_app.send_task(name, args=["echo hostile"], queue="hostile").id
    still_consuming(security_app, client, worker)
    assert dead_reasons(client)[job_id].startswith(f"unknown job or task {name!r}: no task of that name")
    assert client.get(MARKER) is None, "the worker imported the module a message named"
    assert "SECURITY MARKER MODULE IMPORTED" not in worker.output


@pytest.mark.parametrize(
    ("argument", "error"),
    [
        (
            {"_cj": "enum", "cls": f"{HOSTILE_MODULE}:X", "v": "A"},
            "no Enum 'tests.security.marker_module:X' is defined",
        ),
        ({"_cj": "enum", "cls": "venv.__main__:X", "v": "A"}, "no Enum 'venv.__main__:X' is defined"),
        ({"_cj": "enum", "cls": ["not", "a", "name"], "v": "A"}, "no Enum ['not', 'a', 'name'] is defined"),
        ({"_cj": "model:tests.security.app.Base", "v": [f"{HOSTILE_MODULE}:X", [1]]}, "is not a model of Base"),
        ({"_cj": "no-such-serializer", "v": 1}, "no serializer named 'no-such-serializer'"),
    ],
    ids=["enum-in-a-module-never-imported", "enum-in-venv-main", "enum-not-a-string", "model", "unknown-tag"],
)
def test_an_argument_naming_a_class_imports_nothing_and_the_job_is_dead(
    security_app: Any, client: redis.Redis, worker: Service, argument: dict[str, Any], error: str
) -> None:
    job_id = security_app.send_task("tests.security.app.RecordJob", args=[argument], queue="hostile").id
    still_consuming(security_app, client, worker)
    assert dead_reasons(client)[job_id].startswith("DeserializationError: ")
    assert error in dead_reasons(client)[job_id]
    assert client.get(MARKER) is None


def test_a_registered_enum_still_arrives(security_app: Any, client: redis.Redis, worker: Service) -> None:
    security_app.send_task(
        "tests.security.app.RecordJob",
        args=[{"_cj": "enum", "cls": "tests.security.app:Color", "v": "RED"}],
        queue="hostile",
    )
    popped = client.blpop([DONE], timeout=30)
    assert popped is not None
    assert popped[1] == b"<Color.RED: 1>"


@pytest.mark.parametrize("mailer", [f"{HOSTILE_MODULE}.Evil", "venv.__main__.Evil", "builtins.exit"])
def test_a_mailer_path_imports_nothing_and_the_delivery_is_dead(
    security_app: Any, client: redis.Redis, worker: Service, mailer: str
) -> None:
    job_id = security_app.send_task(
        "conveyor.mailer.MailDeliveryJob", args=[mailer, "hello", [], {}], queue="hostile"
    ).id
    still_consuming(security_app, client, worker)
    assert f"MailerError: no Mailer {mailer!r} is defined in this worker" in dead_reasons(client)[job_id]
    assert client.get(MARKER) is None


@pytest.mark.parametrize(
    "envelope",
    [
        {"body": "e30=", "properties": {"delivery_tag": 7}},  # a number: used to fail ZADD after the pop
        {"body": "e30=", "properties": {"delivery_tag": {"a": 1}}},
        {"body": "e30=", "properties": {"delivery_tag": ""}},
        {"body": ["not", "text"], "properties": {"delivery_tag": "t1"}},
        {"body": "e30=", "properties": {"delivery_tag": "t2", "delivery_info": {"routing_key": ["x"]}}},
    ],
    ids=["numeric-tag", "table-tag", "empty-tag", "list-body", "list-routing-key"],
)
def test_a_malformed_envelope_in_a_queue_ends_in_the_dead_set(
    security_app: Any, client: redis.Redis, worker: Service, envelope: dict[str, Any]
) -> None:
    raw = json.dumps(envelope)
    before = DeadSet(client).count()
    client.lpush("hostile", raw)
    still_consuming(security_app, client, worker)
    buried = [record for record in DeadSet(client).list(limit=1000) if record.get("raw_entry")]
    assert DeadSet(client).count() == before + 1
    assert any(base64.b64decode(record["raw_entry"]).decode() == raw for record in buried)
    assert not any(raw in value.decode() for value in client.hvals("unacked"))  # not half-claimed either
