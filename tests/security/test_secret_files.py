"""Secret files (make run's Flower login, the cookie secret) are never readable by others."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from conveyor.web.secrets import read_or_create

ROOT = Path(__file__).resolve().parents[2]


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_secret_file_is_0600_from_its_creation_even_under_a_permissive_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        value = read_or_create(tmp_path / "var" / "secret", lambda: "s3cret")
    finally:
        os.umask(old)
    assert value == "s3cret"
    assert mode(tmp_path / "var" / "secret") == 0o600


def test_an_existing_file_keeps_its_value_and_is_narrowed_to_0600(tmp_path: Path) -> None:
    path = tmp_path / "secret"
    path.write_text("kept\n")
    path.chmod(0o644)
    assert read_or_create(path, lambda: "new") == "kept"
    assert mode(path) == 0o600


@pytest.mark.processes
def test_make_runs_login_file_is_created_0600(tmp_path: Path) -> None:
    script = "from app.run import flower_login; print(flower_login())"
    env = {key: value for key, value in os.environ.items() if not key.startswith("FLOWER_")}
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        env={**env, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    login_file = tmp_path / "var" / "flower-login"
    assert result.stdout.strip() == login_file.read_text().strip()
    assert result.stdout.startswith("admin:")
    assert mode(login_file) == 0o600


def test_make_flower_uses_the_login_make_run_keeps(tmp_path: Path) -> None:
    """``make flower`` (``python -m app.run flower``) starts Flower with var/flower-login, as make run does."""
    import base64
    import urllib.error
    import urllib.request

    from conveyor.devserver import free_port
    from tests.conftest import TEST_REDIS_URL, require_redis
    from tests.integration.services import Service

    require_redis()
    port = free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith("FLOWER_")}
    env.update(
        PYTHONPATH=str(ROOT),
        REDIS_URL=TEST_REDIS_URL,
        FLOWER_PORT=str(port),
        FLOWER_COOKIE_SECRET_FILE=str(tmp_path / "cookie-secret"),
    )
    flower = Service([sys.executable, "-m", "app.run", "flower"], env=env, cwd=tmp_path)
    try:
        flower.wait_listening(port)
        login = (tmp_path / "var" / "flower-login").read_text().strip()
        assert f"conveyor: Flower login: {login.replace(':', ' / ', 1)}" in flower.output

        def status(credentials: str | None) -> int:
            request = urllib.request.Request(f"http://127.0.0.1:{port}/")
            if credentials:
                request.add_header("Authorization", "Basic " + base64.b64encode(credentials.encode()).decode())
            try:
                with urllib.request.urlopen(request, timeout=10) as response:
                    return int(response.status)
            except urllib.error.HTTPError as error:
                return error.code

        assert status(None) == 401
        assert status(login) == 200
    finally:
        flower.stop()


@pytest.mark.processes
def test_the_development_redis_keeps_its_data_owner_only_under_a_permissive_umask(tmp_path: Path) -> None:
    data = tmp_path / "var" / "redis"
    write = (
        "import os, redis; c = redis.Redis.from_url(os.environ['REDIS_URL']); c.set('k', 'secret'); c.bgrewriteaof()"
    )
    old = os.umask(0)
    try:
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "conveyor.devserver",
                "--private",
                "--data-dir",
                str(data),
                "--",
                sys.executable,
                "-c",
                write,
            ],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=tmp_path,
        )
    finally:
        os.umask(old)
    assert result.returncode == 0, result.stderr
    assert mode(data) == 0o700
    files = [path for path in data.rglob("*") if path.is_file()]
    assert files, list(data.rglob("*"))  # the AOF (and its manifest) were written
    assert {path.name: mode(path) & 0o077 for path in files} == {path.name: 0 for path in files}


def test_private_dir_narrows_an_existing_folder_and_creates_parents_0700(tmp_path: Path) -> None:
    from conveyor.private_files import private_dir, private_file

    existing = tmp_path / "var"
    existing.mkdir(mode=0o755)
    existing.chmod(0o755)
    private_dir(existing)
    assert mode(existing) == 0o700
    old = os.umask(0)
    try:
        nested = private_dir(tmp_path / "new" / "mail")
        written = private_file(nested / "m.eml", b"To: x")
    finally:
        os.umask(old)
    assert (mode(tmp_path / "new"), mode(nested), mode(written)) == (0o700, 0o700, 0o600)


@pytest.mark.processes
def test_mail_files_and_the_sqlite_file_are_owner_only(tmp_path: Path) -> None:
    from email.message import EmailMessage

    from conveyor.mail.delivery import FileBackend

    message = EmailMessage()
    message["Message-ID"] = "<one@example.com>"
    message.set_content("a password reset link")
    old = os.umask(0)
    try:
        FileBackend(tmp_path / "var" / "mail").send(message)
    finally:
        os.umask(old)
    assert mode(tmp_path / "var" / "mail") == 0o700
    assert mode(tmp_path / "var" / "mail" / "one@example.com.eml") == 0o600

    database = tmp_path / "db" / "app.db"
    script = "import os; os.umask(0); from app.models import create_all; create_all()"
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{database}", "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert (mode(database.parent), mode(database)) == (0o700, 0o600)
