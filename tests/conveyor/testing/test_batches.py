"""``conveyor.testing.batches``: the test adapter's batches follow the rules of the Redis scripts.

The same operations run on ``MemoryBatchStore`` and on ``RedisBatchStore`` (a real Redis); after
each one, both stores must show the same counts, state and callbacks fired.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import redis

from conveyor.broker.batches import DEAD, DISCARDED, RETRYING, SUCCEEDED, RedisBatchStore
from conveyor.testing.batches import MemoryBatchStore

pytestmark = pytest.mark.redis


class Fired:
    """A memory store's callback target (a job, as far as the store sees one): counts its sends."""

    def __init__(self, log: list[str], event: str) -> None:
        self.log, self.event = log, event
        self._options: dict[str, Any] = {}

    def _resolve_options(self, options: Any, settings: Any) -> None:
        pass

    def _publish(self, app: Any, defer: bool = True) -> None:
        self.log.append(self.event)


def view(store: Any, batch_id: str) -> tuple[Any, ...]:
    state = store.state(batch_id)
    counts = (state.total, state.pending, state.retrying, state.succeeded, state.discarded, state.dead)
    return (*counts, state.children, state.state, tuple(sorted(state.fired)))


SCENARIOS = {
    "all succeed": [
        ("add", ["a", "b"]),
        ("close",),
        ("end", "a", SUCCEEDED),
        ("end", "a", SUCCEEDED),
        ("end", "b", SUCCEEDED),
    ],
    "retry, dead, discard": [
        ("add", ["a", "b", "c"]),
        ("close",),
        ("end", "a", RETRYING),
        ("end", "a", RETRYING),
        ("end", "a", DEAD),
        ("end", "b", DISCARDED),
        ("end", "c", SUCCEEDED),
        ("end", "c", DEAD),
    ],
    "reopened": [("add", ["a"]), ("close",), ("end", "a", DEAD), ("reopen", ["a"]), ("end", "a", SUCCEEDED)],
    "dead then succeeded": [("add", ["a"]), ("close",), ("end", "a", DEAD), ("end", "a", SUCCEEDED)],
    "forgotten": [("add", ["a", "b"]), ("forget", ["b"]), ("close",), ("end", "a", SUCCEEDED)],
    "empty": [("close",)],
    "cancelled": [("add", ["a"]), ("cancel",), ("close",), ("end", "a", SUCCEEDED)],
    "two blocks": [("open",), ("add", ["a"]), ("close",), ("end", "a", SUCCEEDED), ("close",)],
}


@pytest.mark.parametrize("name", SCENARIOS)
def test_memory_and_redis_stores_agree_step_by_step(name: str, redis_client: redis.Redis) -> None:
    memory, on_redis = MemoryBatchStore(), RedisBatchStore(redis_client)
    batch_id, log = str(uuid.uuid4()), []
    events = ("success", "finish", "discard")
    memory.open(batch_id, description="", properties="{}", parent=None, callbacks={e: Fired(log, e) for e in events})
    on_redis.open(batch_id, description="", properties="{}", parent=None, callbacks={e: (f"cb-{e}", e) for e in events})
    for step in SCENARIOS[name]:
        for store in (memory, on_redis):
            operation, *args = step
            getattr(store, operation)(batch_id, *args) if operation != "open" else store.open(
                batch_id, description="", properties="{}", parent=None, callbacks={}
            )
        assert view(memory, batch_id) == view(on_redis, batch_id), f"after {step}"
    assert sorted(log) == sorted(e for e in events for _ in range(redis_client.llen(f"cb-{e}")))
