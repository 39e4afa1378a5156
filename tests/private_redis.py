"""A redis-server of a test's own, for what a shared one cannot show: command counts (per server), a pause.

Example::

    with private_redis(tmp_path) as (client, process):
        os.kill(process.pid, signal.SIGSTOP)   # Redis away, as in a failover or a freeze
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import redis

from tests.conftest import missing_service, require_redis
from tests.processes import track

__all__ = ["private_redis"]


@contextlib.contextmanager
def private_redis(folder: Path) -> Iterator[tuple[redis.Redis, subprocess.Popen[bytes]]]:
    """A redis-server on a Unix socket in ``folder`` (no port, nothing saved), its client and its process."""
    require_redis()
    binary = shutil.which("redis-server")
    if binary is None:
        missing_service("no redis-server on PATH: this test needs a Redis of its own")
    socket = folder / "redis.sock"
    argv = [binary, "--port", "0", "--unixsocket", str(socket), "--save", "", "--appendonly", "no"]
    process = track(subprocess.Popen(argv, stdout=subprocess.DEVNULL))
    client = redis.Redis(unix_socket_path=str(socket))
    try:
        deadline = time.monotonic() + 10
        while not socket.exists():  # redis-server signals nothing else before it listens
            if time.monotonic() > deadline:
                raise RuntimeError("the private redis-server did not start in 10 s")
            time.sleep(0.02)
        client.ping()
        yield client, process
    finally:
        client.close()
        process.terminate()
        process.wait(timeout=10)
