"""Random envelopes and bodies pushed straight into a queue under a real worker: it never exits, nothing vanishes.

hypothesis draws 6,500 list entries of five kinds: a Celery message for a real job with
random arguments (tagged values included), a message with random headers, a kombu envelope
with random field types, text or JSON that is no envelope at all, and a job whose control
headers (``conveyor_throttle``, ``conveyor_limit``) name keys that are not theirs (the
scheduled and dead sets, kombu's, redbeat's), which must leave those keys whole. Each carries a unique
id; at the end every one was either performed (the job recorded it) or is in the dead set,
and the worker (solo pool: anything escaping a job would end it) is still running.

Left out on purpose, as Celery features rather than input to survive: ``eta``/``expires``
(a message may legitimately wait or be dropped as expired), and links/chains in the body's
embed (they send further messages).
"""

from __future__ import annotations

import base64
import json
import os
import re
import sys
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conveyor.broker.dead.dead_set import DeadSet
from tests.integration.services import Service
from tests.security.test_hostile_messages import SECURITY_REDIS_URL

pytestmark = [pytest.mark.redis, pytest.mark.processes, pytest.mark.timeout(300)]

DONE = "conveyor-test:security:done"
QUEUE = "fuzz"
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
tagged = st.fixed_dictionaries(
    {"_cj": st.sampled_from(["enum", "tuple", "datetime", "decimal", "uuid", "model:x", "nope"]), "v": json_values},
    optional={"cls": json_values, "tz": json_values},
)
arguments = st.lists(json_values | tagged, max_size=3)


def envelope(body: bytes, headers: dict[str, Any], tag: Any = None, **properties: Any) -> str:
    return json.dumps(
        {
            "body": base64.b64encode(body).decode(),
            "content-encoding": "utf-8",
            "content-type": "application/json",
            "headers": headers,
            "properties": {
                "delivery_tag": tag or str(uuid.uuid4()),
                "body_encoding": "base64",
                "priority": 0,
                "delivery_info": {"exchange": "", "routing_key": QUEUE},
                **properties,
            },
        }
    )


def job_message(job_id: str, args: list[Any]) -> str:
    headers = {"lang": "py", "task": "tests.security.app.RecordJob", "id": job_id, "root_id": job_id, "retries": 0}
    return envelope(json.dumps([[[job_id, *args]] if args else [job_id], {}, {}]).encode(), headers)


@pytest.fixture(scope="module")
def fuzz_worker() -> Iterator[tuple[redis.Redis, Service]]:
    from tests.conftest import require_redis

    require_redis()
    client = redis.Redis.from_url(SECURITY_REDIS_URL)
    client.flushdb()
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
            QUEUE,
            "--without-mingle",
            "--without-gossip",
            "--loglevel",
            "INFO",
        ],
        env={**os.environ, "SECURITY_REDIS_URL": SECURITY_REDIS_URL},
    )
    service.wait_for("ready")
    yield client, service
    service.stop()
    client.flushdb()


PUSHED: list[str] = []
FUZZ_ID = re.compile(r"fuzz-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")  # f"fuzz-{uuid4()}"
# Per kind: 4,000 entries (and the hostile ones), about 20 s on the suite's machine. make test-deps,
# which checks other versions of the same code, sets CONVEYOR_FUZZ_EXAMPLES lower.
EXAMPLES = int(os.environ.get("CONVEYOR_FUZZ_EXAMPLES", "1000"))
HOSTILE_EXAMPLES = EXAMPLES // 2
HOSTILE_KEYS = [
    "conveyor:scheduled",
    "conveyor:dead",
    "conveyor:dead:jobs",
    "conveyor:owners",
    "conveyor:paused",
    "conveyor:limits",
    "conveyor:limit:",
    "conveyor:throttle:",
    "unacked",
    "_kombu.binding.fuzz",
    "redbeat::schedule",
    "conveyor:limit:x:blocked",
    "fuzz",
]


def test_random_entries_end_performed_or_dead_and_the_worker_lives(fuzz_worker: tuple[redis.Redis, Service]) -> None:
    client, worker = fuzz_worker
    common = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)

    @common
    @given(args=arguments)
    def jobs_with_random_arguments(args: list[Any]) -> None:
        job_id = f"fuzz-{uuid.uuid4()}"
        client.lpush(QUEUE, job_message(job_id, args))
        PUSHED.append(job_id)

    @common
    @given(
        task=st.text(max_size=40),
        extra=st.dictionaries(
            st.sampled_from(["lang", "argsrepr", "retries", "conveyor", "group", "parent_id"]), json_values, max_size=3
        ),
        body=json_values,
    )
    def random_headers(task: str, extra: dict[str, Any], body: Any) -> None:
        job_id = f"fuzz-{uuid.uuid4()}"
        client.lpush(QUEUE, envelope(json.dumps(body).encode(), {**extra, "task": task, "id": job_id}))
        PUSHED.append(job_id)

    @common
    @given(tag=json_values, info=json_values, body_text=st.binary(max_size=30))
    def random_envelope_fields(tag: Any, info: Any, body_text: bytes) -> None:
        job_id = f"fuzz-{uuid.uuid4()}"
        headers = {"task": "tests.security.app.RecordJob", "id": job_id}
        client.lpush(
            QUEUE, envelope(body_text, headers, tag=tag if tag not in (None, "") else None, delivery_info=info)
        )
        PUSHED.append(job_id)

    @common
    @given(noise=st.binary(max_size=40) | json_values.map(lambda value: json.dumps(value).encode()))
    def not_an_envelope(noise: bytes) -> None:
        job_id = f"fuzz-{uuid.uuid4()}"
        client.lpush(QUEUE, job_id.encode() + b" " + noise)
        PUSHED.append(job_id)

    # Control headers naming keys that are not theirs (what Flower's send-task lets a login send): buried,
    # and the structures they name untouched.
    client.zadd("conveyor:scheduled", {"fuzz-victim": 4e9})
    hostile_key = st.sampled_from(HOSTILE_KEYS) | st.text(max_size=30) | json_values

    @settings(max_examples=HOSTILE_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(
        name=st.sampled_from(["conveyor_throttle", "conveyor_limit"]),
        key=hostile_key,
        size=st.integers(min_value=-1, max_value=10**9) | json_values,
    )
    def hostile_control_headers(name: str, key: Any, size: Any) -> None:
        job_id = f"fuzz-{uuid.uuid4()}"
        control = {"key": key, "limit": size, "period": size, "to": size, "duration": size}
        message = json.loads(job_message(job_id, []))
        message["headers"][name] = control if isinstance(key, str) and len(key) % 2 else key
        client.lpush(QUEUE, json.dumps(message))
        PUSHED.append(job_id)

    for draw in (
        jobs_with_random_arguments,
        random_headers,
        random_envelope_fields,
        not_an_envelope,
        hostile_control_headers,
    ):
        draw()

    dead = DeadSet(client)

    def accounted() -> set[str]:
        performed = {value.decode(errors="replace") for value in client.lrange(DONE, 0, -1)}
        found = set()
        texts = list(performed)
        for record in dead.list(limit=10_000):
            found.add(record["id"])
            if record.get("raw_entry"):  # buried as it was: the id is somewhere in the raw text
                texts.append(base64.b64decode(record["raw_entry"]).decode(errors="replace"))
        # Every id the texts hold, in one pass (looking each pushed id up in each text was quadratic: most
        # of this test's time, checked every half second)
        return found | set(FUZZ_ID.findall("\n".join(texts)))

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and worker.process.poll() is None:
        if client.llen(QUEUE) == 0 and client.hlen("unacked") == 0 and set(PUSHED) <= accounted():
            break
        client.blpop(["conveyor-test:security:never"], timeout=0.5)  # a bounded wait between checks
    assert worker.process.poll() is None, worker.output[-3000:]
    missing = set(PUSHED) - accounted()
    lines = worker.output.splitlines()
    seen = {job_id: [line for line in lines if job_id in line][:3] for job_id in sorted(missing)[:5]}
    state = (client.llen(QUEUE), client.hlen("unacked"), client.llen(DONE), dead.count(), lines[-15:])
    assert missing == set(), f"{len(missing)} of {len(PUSHED)} entries neither performed nor dead: {seen} {state}"
    assert len(PUSHED) == 4 * EXAMPLES + HOSTILE_EXAMPLES
    assert client.zscore("conveyor:scheduled", "fuzz-victim") == 4e9
    assert client.pttl("conveyor:scheduled") == -1
    assert client.type("conveyor:paused") in (b"none", b"set")
    assert client.pttl("conveyor:dead") == -1
