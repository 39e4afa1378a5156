"""A Redis master, its replica and three sentinels as real processes on loopback ports picked here.

Both the data nodes and the sentinels ask for a password, each its own (as a deployment does),
so a test shows that every component was given the right one. ``failover()`` asks a sentinel for
a promotion (``SENTINEL FAILOVER``) and waits until every sentinel names the new master.

Example::

    with redis_with_sentinels(tmp_path) as group:
        url = group.url()                      # redis+sentinel://:<data password>@127.0.0.1:p1,.../mymaster/0
        group.failover()
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis

from conveyor.devserver import free_port
from tests.processes import track

__all__ = ["SERVICE", "SentinelGroup", "redis_with_sentinels", "redis_server"]

SERVICE = "mymaster"
DATA_PASSWORD = "data-s3cret"
SENTINEL_PASSWORD = "sentinel-s3cret"
#: How long a sentinel waits before it calls a silent master down (what a deployment tunes).
DOWN_AFTER_MS = 1000


def redis_server() -> str | None:
    """The redis-server binary, or None where it is not installed."""
    return shutil.which("redis-server")


@dataclass
class SentinelGroup:
    folder: Path
    data_ports: list[int]
    sentinel_ports: list[int]
    processes: list[subprocess.Popen[Any]] = field(default_factory=list)

    def url(self, db: int = 0, password: str | None = DATA_PASSWORD) -> str:
        auth = f":{password}@" if password is not None else ""
        hosts = ",".join(f"127.0.0.1:{port}" for port in self.sentinel_ports)
        return f"redis+sentinel://{auth}{hosts}/{SERVICE}/{db}"

    def sentinel(self, index: int = 0) -> redis.Redis:
        return redis.Redis(port=self.sentinel_ports[index], password=SENTINEL_PASSWORD, socket_timeout=5)

    def data(self, port: int, db: int = 0) -> redis.Redis:
        return redis.Redis(port=port, db=db, password=DATA_PASSWORD, socket_timeout=5)

    def state(self, index: int = 0) -> dict[str, Any]:
        """What sentinel ``index`` says of the service (SENTINEL MASTERS: redis-py 6.4's sentinel_master and
        sentinel_get_master_addr_by_name fail with a TypeError on a plain client)."""
        state: dict[str, Any] = self.sentinel(index).sentinel_masters()[SERVICE]
        return state

    def master_port(self, index: int = 0) -> int:
        return int(self.state(index)["port"])

    def wait_until(self, check: Any, timeout_s: float, what: str) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with contextlib.suppress(redis.RedisError):
                if check():
                    return
            time.sleep(0.05)
        raise AssertionError(f"{what} within {timeout_s:g} s")

    def wait_ready(self, timeout_s: float = 30) -> None:
        """Every sentinel knows the master, its replica and the two other sentinels; the replica is in sync."""
        master = self.data_ports[0]

        def ready() -> bool:
            for index in range(len(self.sentinel_ports)):
                state = self.state(index)
                if int(state["port"]) != master or state["num-slaves"] < 1 or state["num-other-sentinels"] < 2:
                    return False
            return self.data(self.data_ports[1]).info("replication").get("master_link_status") == "up"

        self.wait_until(ready, timeout_s, "the sentinels did not agree on the master and its replica")

    def failover(self, timeout_s: float = 30) -> int:
        """Promote the replica (``SENTINEL FAILOVER``); return the new master's port once every sentinel names it."""
        old = self.master_port()
        self.sentinel().execute_command("SENTINEL", "FAILOVER", SERVICE)
        self.wait_until(
            lambda: all(self.master_port(index) != old for index in range(len(self.sentinel_ports))),
            timeout_s,
            "the sentinels did not name a new master",
        )
        new = self.master_port()
        self.wait_until(
            lambda: self.data(new).info("replication")["role"] == "master",
            timeout_s,
            f"127.0.0.1:{new} did not become a master",
        )
        return new


def _start(folder: Path, name: str, lines: list[str], sentinel: bool = False) -> subprocess.Popen[Any]:
    conf = folder / f"{name}.conf"
    conf.write_text("\n".join(lines) + "\n")
    conf.chmod(0o600)
    argv = [redis_server() or "redis-server", str(conf), *(["--sentinel"] if sentinel else [])]
    log = (folder / f"{name}.log").open("w")
    return track(subprocess.Popen(argv, cwd=folder, stdout=log, stderr=subprocess.STDOUT, start_new_session=True))


@contextlib.contextmanager
def redis_with_sentinels(folder: Path) -> Iterator[SentinelGroup]:
    """Start the group in ``folder`` (configs and logs stay there); end every process on exit."""
    folder.mkdir(parents=True, exist_ok=True)
    group = SentinelGroup(folder, [free_port(), free_port()], [free_port(), free_port(), free_port()])
    common = [
        "bind 127.0.0.1",
        "save ''",
        "appendonly no",
        f"requirepass {DATA_PASSWORD}",
        f"masterauth {DATA_PASSWORD}",
    ]
    master, replica = group.data_ports
    try:
        group.processes.append(_start(folder, "master", [f"port {master}", *common]))
        group.processes.append(_start(folder, "replica", [f"port {replica}", *common, f"replicaof 127.0.0.1 {master}"]))
        for index, port in enumerate(group.sentinel_ports):
            lines = [
                "bind 127.0.0.1",
                f"port {port}",
                f"dir {folder}",
                f"requirepass {SENTINEL_PASSWORD}",
                f"sentinel monitor {SERVICE} 127.0.0.1 {master} 2",
                f"sentinel auth-pass {SERVICE} {DATA_PASSWORD}",
                f"sentinel sentinel-pass {SENTINEL_PASSWORD}",
                f"sentinel down-after-milliseconds {SERVICE} {DOWN_AFTER_MS}",
                f"sentinel failover-timeout {SERVICE} 10000",
                f"sentinel parallel-syncs {SERVICE} 1",
            ]
            group.processes.append(_start(folder, f"sentinel-{index}", lines, sentinel=True))
        group.wait_ready()
        yield group
    finally:
        for process in group.processes:
            process.terminate()
        for process in group.processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
