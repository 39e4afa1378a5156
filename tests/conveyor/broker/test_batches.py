"""``conveyor.broker.batches``: the batch scripts on a real Redis, keyed by job id.

A job's end changes a batch once (a redelivered or duplicated execution changes nothing), the
script that records the last end pushes each callback once, a child's end counts in its parent in
the same step, and every key has its TTL and bound.
"""

from __future__ import annotations

import json
import uuid

import pytest
import redis

from conveyor.broker.batches import (
    DEAD,
    DISCARDED,
    PENDING,
    RETRYING,
    SUCCEEDED,
    RedisBatchStore,
    batch_key,
    check_batch_id,
)
from conveyor.errors import UnknownBatchError
from conveyor.keys import BATCHES_KEY, wake_key

pytestmark = pytest.mark.redis


def new_id() -> str:
    return str(uuid.uuid4())


@pytest.fixture
def store(redis_client: redis.Redis) -> RedisBatchStore:
    return RedisBatchStore(redis_client, ttl=600, max_jobs=100)


def callbacks(*events: str) -> dict[str, tuple[str, str]]:
    """Each event's callback 'message' is its name, pushed to the list cb-<event>."""
    return {event: (f"cb-{event}", json.dumps({"event": event})) for event in events}


def pushed(client: redis.Redis, event: str) -> int:
    return int(client.llen(f"cb-{event}"))


def opened(store: RedisBatchStore, parent: str | None = None, *events: str) -> str:
    batch_id = new_id()
    store.open(batch_id, description="d", properties="{}", parent=parent, callbacks=callbacks(*events))
    return batch_id


def test_an_end_recorded_twice_counts_once_and_the_last_end_pushes_each_callback_once(
    store: RedisBatchStore, redis_client: redis.Redis
) -> None:
    batch = opened(store, None, "success", "finish", "discard")
    assert store.add(batch, ["a", "b"]) == 2
    assert store.add(batch, ["a"]) == 0  # a second registration of an id changes nothing
    store.close(batch)
    # When job a ends, and its execution is delivered again and ends again (super fetch)
    assert store.end(batch, "a", SUCCEEDED) is True
    assert store.end(batch, "a", SUCCEEDED) is False
    assert store.end(batch, "a", DEAD) is False  # nor does a duplicate that failed
    assert store.state(batch).pending == 1
    assert pushed(redis_client, "finish") == 0
    # When the last job ends, then is delivered again
    assert store.end(batch, "b", SUCCEEDED) is True
    assert store.end(batch, "b", SUCCEEDED) is False
    state = store.state(batch)
    assert (state.total, state.pending, state.succeeded, state.finished) == (2, 0, 2, True)
    assert [pushed(redis_client, event) for event in ("success", "finish", "discard")] == [1, 1, 0]
    assert redis_client.llen(wake_key("cb-success")) == 1  # an idle worker of the queue wakes up
    assert set(state.fired) == {"success", "finish"}


def test_a_batch_does_not_finish_while_a_block_is_open_or_before_it_is_sealed(
    store: RedisBatchStore, redis_client: redis.Redis
) -> None:
    batch = opened(store, None, "finish")
    store.add(batch, ["a"])
    store.end(batch, "a", SUCCEEDED)
    assert not store.state(batch).finished  # its block is open
    store.open(batch, description="", properties="{}", parent=None, callbacks={})  # a second block
    store.close(batch)
    assert not store.state(batch).finished
    assert pushed(redis_client, "finish") == 0
    store.close(batch)
    assert store.state(batch).finished
    assert pushed(redis_client, "finish") == 1


def test_an_empty_batch_finishes_when_sealed(store: RedisBatchStore, redis_client: redis.Redis) -> None:
    batch = opened(store, None, "success", "finish")
    store.close(batch)
    assert store.state(batch).finished
    assert [pushed(redis_client, event) for event in ("success", "finish")] == [1, 1]


def test_retrying_is_not_an_end_dead_is_and_discard_fires_once_for_the_first(
    store: RedisBatchStore, redis_client: redis.Redis
) -> None:
    batch = opened(store, None, "success", "finish", "discard")
    store.add(batch, ["a", "b", "c"])
    store.close(batch)
    assert store.end(batch, "a", RETRYING) is False
    assert (store.state(batch).pending, store.state(batch).retrying) == (3, 1)
    store.end(batch, "a", DEAD)
    store.end(batch, "b", DISCARDED)
    assert pushed(redis_client, "discard") == 1
    assert pushed(redis_client, "finish") == 0
    store.end(batch, "c", SUCCEEDED)
    state = store.state(batch)
    assert (state.retrying, state.dead, state.discarded, state.succeeded) == (0, 1, 1, 1)
    assert [pushed(redis_client, event) for event in ("success", "finish", "discard")] == [0, 1, 1]


def test_reopening_a_dead_job_then_its_success_fires_success_once_and_not_finish_again(
    store: RedisBatchStore, redis_client: redis.Redis
) -> None:
    batch = opened(store, None, "success", "finish")
    store.add(batch, ["a", "b"])
    store.close(batch)
    store.end(batch, "a", SUCCEEDED)
    store.end(batch, "b", DEAD)
    assert store.reopen(batch, ["b", "a"]) == 1  # only the dead one
    assert not store.state(batch).finished
    store.end(batch, "b", SUCCEEDED)
    assert store.state(batch).finished
    assert [pushed(redis_client, event) for event in ("success", "finish")] == [1, 1]


def test_a_dead_job_sent_again_from_the_dead_page_that_succeeds_counts_as_succeeded(
    store: RedisBatchStore, redis_client: redis.Redis
) -> None:
    batch = opened(store, None, "success")
    store.add(batch, ["a"])
    store.close(batch)
    store.end(batch, "a", DEAD)
    assert store.end(batch, "a", SUCCEEDED) is True  # dead -> succeeded: its batch can now succeed
    assert (store.state(batch).dead, store.state(batch).succeeded) == (0, 1)
    assert pushed(redis_client, "success") == 1


def test_a_child_batch_counts_in_its_parent_which_finishes_after_it(
    store: RedisBatchStore, redis_client: redis.Redis
) -> None:
    parent = opened(store, None, "success")
    store.add(parent, ["p1"])
    child = opened(store, parent)
    store.add(child, ["c1"])
    store.close(child)
    store.close(parent)
    store.end(parent, "p1", SUCCEEDED)
    assert not store.state(parent).finished  # its child is pending
    assert store.state(parent).children == 1
    store.end(child, "c1", SUCCEEDED)  # the child's last end finishes the child and then the parent
    assert store.state(child).finished
    assert store.state(parent).finished
    assert pushed(redis_client, "success") == 1
    assert set(store.members(parent)[SUCCEEDED]) == {"p1", f"b:{child}"}


def test_a_child_with_a_dead_job_is_a_dead_member_of_its_parent(store: RedisBatchStore) -> None:
    parent = opened(store, None)
    child = opened(store, parent)
    store.add(child, ["c1"])
    store.close(child)
    store.close(parent)
    store.end(child, "c1", DEAD)
    assert store.members(parent, DEAD)[DEAD] == [f"b:{child}"]
    assert store.state(parent).finished


def test_forget_takes_back_jobs_that_were_not_sent_and_the_batch_can_then_finish(
    store: RedisBatchStore, redis_client: redis.Redis
) -> None:
    batch = opened(store, None, "finish")
    store.add(batch, ["a", "b"])
    store.close(batch)
    store.end(batch, "a", SUCCEEDED)
    assert store.forget(batch, ["b", "a"]) == 1  # "a" ended: it stays
    state = store.state(batch)
    assert (state.total, state.finished) == (1, True)
    assert pushed(redis_client, "finish") == 1


def test_keys_have_a_ttl_the_members_a_bound_and_unknown_ids_a_clear_error(
    store: RedisBatchStore, redis_client: redis.Redis
) -> None:
    batch = opened(store)
    store.add(batch, ["a"])
    assert 0 < redis_client.ttl(batch_key(batch)) <= 600
    assert 0 < redis_client.ttl(batch_key(batch) + ":jobs") <= 600
    assert 0 < redis_client.ttl(batch_key(batch) + ":pending") <= 600
    assert 0 < redis_client.ttl(BATCHES_KEY) <= 600
    with pytest.raises(redis.ResponseError, match="more than 100 jobs"):
        store.add(batch, [str(n) for n in range(100)])
    assert store.state(batch).total == 1  # all or nothing
    gone = new_id()
    with pytest.raises(UnknownBatchError, match="no batch"):
        store.state(gone)
    with pytest.raises(UnknownBatchError, match="expired"):
        store.add(gone, ["a"])
    assert store.end(gone, "a", SUCCEEDED) is False  # a job of an expired batch ends quietly
    assert store.cancel(gone) is False
    assert not redis_client.exists(batch_key(gone))


def test_only_uuid_text_is_a_batch_id() -> None:
    batch_id = new_id()
    assert check_batch_id(batch_id) == batch_id
    for wrong in ("", "x", f"{batch_id}:jobs", "conveyor:dead", None, 3):
        with pytest.raises(ValueError, match="is not a batch id"):
            check_batch_id(wrong)


def test_the_index_lists_batches_newest_first(store: RedisBatchStore) -> None:
    first, second = opened(store), opened(store)
    assert store.ids()[:2] == [second, first]
    assert store.count() == 2
    assert store.members(first) == {state: [] for state in (PENDING, RETRYING, SUCCEEDED, DISCARDED, DEAD)}
