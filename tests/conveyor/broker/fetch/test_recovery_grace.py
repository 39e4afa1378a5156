"""No false orphans: a live worker's jobs are not recovered because Redis was away past the heartbeat TTL.

While Redis is away (restarted, failed over, frozen) no worker can refresh its heartbeat, and the
keys expire: the first worker back would take every other for dead and run their jobs again. The
first beat that goes through after a failed (or a stalled) one opens a recovery grace of one TTL
(``conveyor:recovery-grace``), in which live workers beat again. The test stops a private
redis-server (SIGSTOP) for longer than the TTL, with timeouts shortened in proportion to the shipped
ones (TTL 30 s, interval 5 s, socket timeout 5 s → 2 s, 0.3 s, 0.3 s); the relation between the
shipped defaults is checked on its own.
"""

from __future__ import annotations

import json
import os
import signal
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from conveyor.broker.fetch import owners
from conveyor.broker.fetch.claim import CLAIM
from conveyor.broker.fetch.owners import Owner
from conveyor.defaults import HEARTBEAT_INTERVAL_S, HEARTBEAT_TTL_S, REDIS_SOCKET_TIMEOUT_S
from conveyor.keys import (
    CLAIMS_KEY,
    LIMITS_KEY,
    LIMITS_TO_KEY,
    PAUSED_KEY,
    RECOVERY_GRACE_KEY,
    SCHEDULED_KEY,
    WAKE_PREFIX,
)
from tests.private_redis import private_redis

pytestmark = [pytest.mark.redis, pytest.mark.processes]  # a redis-server of its own


TTL_S, INTERVAL_S, TIMEOUT_S = 2.0, 0.3, 0.3


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[redis.Redis, int, str]]:
    with private_redis(tmp_path) as (client, process):
        yield client, process.pid, client.connection_pool.connection_kwargs["path"]


@pytest.fixture
def owner_on() -> Iterator[Callable[[str], Owner]]:
    """Makes owners on a socket; stops the ones still beating at the end, so none outlives a failed test."""
    made: list[Owner] = []

    def make(socket: str) -> Owner:
        made.append(owner_for(socket))
        return made[-1]

    yield make
    for owner in made:
        if owner._thread is not None and owner._thread.is_alive():
            owner._stop.set()
            owner._thread.join()


def owner_for(socket: str) -> Owner:
    # Built as the channel builds its owner's client: a pool from kombu's connection parameters, which
    # retry nothing. (redis.Redis(unix_socket_path=...) retries 3 times with backoff on redis-py 6.4,
    # up to 15 s for one beat: the grace would then open long after Redis is back.)
    pool = redis.ConnectionPool(
        connection_class=redis.UnixDomainSocketConnection,
        path=socket,
        socket_timeout=TIMEOUT_S,
        socket_connect_timeout=TIMEOUT_S,
    )
    client = redis.Redis(connection_pool=pool)
    return Owner(client, ["default"], ttl=TTL_S, interval=INTERVAL_S)


def claim_for(client: redis.Redis, owner: Owner) -> str:
    """A message sent to "default" and claimed by ``owner``, as its channel's fetch would; its delivery tag."""
    tag = str(uuid.uuid4())
    message = {"body": "e30=", "headers": {"id": tag}, "properties": {"delivery_tag": tag, "delivery_info": {}}}
    client.lpush("default", json.dumps(message))
    keys = ["unacked", "unacked_index", CLAIMS_KEY, owner.held_key, owner.heartbeat_key]
    keys += [SCHEDULED_KEY, LIMITS_KEY, LIMITS_TO_KEY, PAUSED_KEY, "default"]
    assert CLAIM(client, keys, [time.time(), owner.id, WAKE_PREFIX, 0.5, 0])[2] == b"ok"
    return tag


def in_grace(client: redis.Redis) -> bool:
    return (client.get(RECOVERY_GRACE_KEY) or b"").startswith(b"grace ")


def wait_for(check: object, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(0.05)


def test_a_live_workers_jobs_are_not_recovered_after_redis_was_away_past_the_ttl(
    server: tuple[redis.Redis, int, str],
    owner_on: Callable[[str], Owner],
) -> None:
    client, pid, socket = server
    # Given a live worker holding a job (its beats sent by the test: it will reach Redis again late),
    # another live worker, and a third that died holding a job
    runner, other, dead = owner_on(socket), owner_on(socket), owner_on(socket)
    runner.beat()
    other.start()
    dead.start()
    running, orphan = claim_for(client, runner), claim_for(client, dead)
    dead._stop.set()  # killed: its heartbeat stops, nothing is handed back
    dead._thread.join()  # type: ignore[union-attr]

    # When Redis is away for longer than the heartbeat TTL, then back
    os.kill(pid, signal.SIGSTOP)
    try:
        time.sleep(TTL_S + 1)  # the outage itself: nothing to wait on but time
    finally:
        os.kill(pid, signal.SIGCONT)

    # Then the first worker back opens the grace, and keeps looking for dead workers every beat
    wait_for(lambda: in_grace(client), 5, "the recovery grace")
    assert not client.exists(runner.heartbeat_key)  # expired while Redis was away
    time.sleep(TTL_S / 2)  # the runner reconnects late, inside the grace: three of the other's beats pass
    # And the runner's job was not taken from it meanwhile
    runner.beat()
    assert client.sismember(runner.held_key, running)
    assert client.llen("default") == 0
    # And once the grace ends, the dead worker's job comes back and the live one's stays held
    wait_for(lambda: client.llen("default") == 1, TTL_S + 3, "the dead worker's job back in its queue")
    runner.beat()
    assert json.loads(client.lindex("default", 0))["headers"]["id"] == orphan  # type: ignore[arg-type]
    assert client.hget(CLAIMS_KEY, running).decode().startswith(runner.id + " ")  # type: ignore[union-attr]
    other.stop()


def test_without_a_pause_a_dead_workers_jobs_come_back_at_the_next_beat_after_its_ttl(
    server: tuple[redis.Redis, int, str],
    owner_on: Callable[[str], Owner],
) -> None:
    client, _, socket = server
    # Given a live worker and one that died holding a job, Redis never away
    live, dead = owner_on(socket), owner_on(socket)
    live.start()
    dead.start()
    orphan = claim_for(client, dead)
    dead._stop.set()
    dead._thread.join()  # type: ignore[union-attr]
    # Then no grace is opened, and the job is back once the dead worker's heartbeat expired
    wait_for(lambda: client.llen("default") == 1, TTL_S + 2, "the dead worker's job back in its queue")
    assert not in_grace(client)
    assert owners.recover_dead_owners(client) == (0, 0)
    live.stop()
    assert orphan


def test_the_shipped_grace_covers_a_sentinel_outage_that_expires_heartbeats() -> None:
    # The grace is one heartbeat TTL; heartbeats expire when Redis is away longer than TTL - interval,
    # which Sentinel's default down-after-milliseconds (30 s) alone exceeds; a beat fails within the
    # socket timeout, well inside the interval, so a live worker notices the outage at its next beat.
    assert (HEARTBEAT_TTL_S, HEARTBEAT_INTERVAL_S, REDIS_SOCKET_TIMEOUT_S) == (30.0, 5.0, 5.0)
    assert HEARTBEAT_TTL_S - HEARTBEAT_INTERVAL_S < 30.0
    assert REDIS_SOCKET_TIMEOUT_S <= HEARTBEAT_INTERVAL_S
