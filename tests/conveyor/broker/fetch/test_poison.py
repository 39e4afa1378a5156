"""Poison pills (``conveyor.broker.fetch.poison``): what the recovery script set aside is filed in the dead set,
once, with the reason, the attempts and the message kept so that it can be retried once fixed."""

from __future__ import annotations

import base64
import json

import redis

from conveyor.broker.dead.dead_set import DeadSet
from conveyor.broker.fetch.poison import bury_poisoned, poison_reason
from conveyor.keys import POISONED_KEY


def poisoned_entry(source: str, deaths: int, item: str) -> str:
    """An entry as lua/recover.lua writes it: "<length of source> <deaths> <source><message>"."""
    return f"{len(source)} {deaths} {source}{item}"


def test_a_poison_pill_is_filed_in_the_dead_set_with_its_message_and_attempts(redis_client: redis.Redis) -> None:
    # Given a message of job-9 (retried once before) whose worker died 3 times, from priority list 3 of "reports"
    message = {
        "body": base64.b64encode(b'[["a"], {}, {}]').decode(),
        "content-type": "application/json",
        "content-encoding": "utf-8",
        "headers": {"id": "job-9", "task": "x.ReportJob", "retries": 1, "argsrepr": "('a',)"},
        "properties": {"delivery_tag": "tag-9", "body_encoding": "base64", "priority": 3},
    }
    redis_client.rpush(POISONED_KEY, poisoned_entry("reports\x06\x163", 3, json.dumps(message)))

    # When it is buried
    buried = bury_poisoned(redis_client, "worker-host")

    # Then the dead set holds it by job id, retryable, and the holding list is empty
    assert buried == 1
    record = DeadSet(redis_client).get("job-9")
    assert record is not None
    assert (record["reason"], record["queue"], record["task"], record["attempts"], record["priority"]) == (
        "its worker died 3 times while running it",
        "reports",
        "x.ReportJob",
        4,
        3,
    )
    assert record["hostname"] == "worker-host"
    assert record["message"]["body"] == message["body"]
    assert record["message"]["headers"] == message["headers"]
    assert record["message"]["content_type"] == "application/json"
    assert redis_client.llen(POISONED_KEY) == 0
    assert bury_poisoned(redis_client) == 0  # nothing twice
    assert DeadSet(redis_client).count() == 1


def test_a_poison_pill_that_is_not_json_is_kept_raw(redis_client: redis.Redis) -> None:
    # Given an entry set aside whose message is not JSON
    redis_client.rpush(POISONED_KEY, poisoned_entry("default", 5, "not json"))

    # When it is buried
    assert bury_poisoned(redis_client) == 1

    # Then it is kept raw, with the reason and its queue
    [record] = DeadSet(redis_client).list()
    assert record["id"].startswith("unparsable-")
    assert record["reason"] == poison_reason(5) == "its worker died 5 times while running it"
    assert record["queue"] == "default"
    assert base64.b64decode(record["raw_entry"]) == b"not json"


def test_a_poison_pill_of_a_batch_is_a_dead_job_of_its_batch_and_a_forged_batch_id_names_no_key(
    redis_client: redis.Redis,
) -> None:
    from conveyor.broker.batches import RedisBatchStore, batch_key

    store = RedisBatchStore(redis_client)
    batch_id = "3f2c1a9e-0000-4000-8000-000000000001"
    store.open(batch_id, description="", properties="{}", parent=None, callbacks={})
    store.add(batch_id, ["job-7"])
    store.close(batch_id)

    def entry(job_id: str, batch: str) -> str:
        headers = {"id": job_id, "task": "x.RowJob", "conveyor": {"batch": batch}}
        message = {"body": "W10=", "headers": headers, "properties": {"body_encoding": "base64"}}
        return poisoned_entry("rel", 3, json.dumps(message))

    redis_client.rpush(POISONED_KEY, entry("job-7", batch_id), entry("job-8", "conveyor:dead"))
    assert bury_poisoned(redis_client) == 2
    # the batch's job is dead there (its perform never ended to say so): the batch finished
    assert (store.state(batch_id).dead, store.state(batch_id).finished) == (1, True)
    assert not redis_client.exists(batch_key("conveyor:dead"))
    assert DeadSet(redis_client).count() == 2
