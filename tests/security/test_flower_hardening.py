"""Flower as an attacker meets it: started from any directory, with OAuth or basic auth, forged cookies, framing.

Every Flower here is started the way a user would (``celery -A app flower``), from ``/``
unless said otherwise, so the secure defaults must come from the app, not the directory.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import stat
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psutil
import pytest
import redis
from tornado.web import create_signed_value

from conveyor.broker.dead.dead_set import DeadSet
from conveyor.devserver import free_port
from tests.conftest import TEST_REDIS_URL, require_redis
from tests.integration.services import ROOT, Service

pytestmark = [pytest.mark.redis, pytest.mark.processes]

FLOWER_REDIS_URL = urlunsplit(urlsplit(TEST_REDIS_URL)._replace(path="/8"))
LOGIN = "admin:s3cret-security"
OAUTH = {
    "FLOWER_AUTH": ".*@example.com",
    "FLOWER_AUTH_PROVIDER": "flower.views.auth.GoogleAuth2LoginHandler",
    "FLOWER_OAUTH2_KEY": "key",
    "FLOWER_OAUTH2_SECRET": "secret",
    "FLOWER_OAUTH2_REDIRECT_URI": "http://127.0.0.1/login",
}
# What earlier versions used as the cookie secret: a constant without basic auth, else derived from the login.
OLD_OAUTH_SECRET = hashlib.sha256(b"conveyor-flower:").hexdigest()


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


def request(
    url: str, headers: dict[str, str] | None = None, data: bytes | None = None
) -> tuple[int, dict[str, str], str]:
    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(urllib.request.Request(url, data=data, headers=headers or {}), timeout=10) as response:
            return response.status, dict(response.headers), response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read().decode(errors="replace")


def basic(login: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(login.encode()).decode()}


def start_flower(tmp_path: Path, cwd: Path = Path("/"), **env: str) -> tuple[Service, str]:
    port = free_port()
    environment = {
        key: value for key, value in os.environ.items() if not key.startswith("FLOWER_") and key != "PYTHONPATH"
    }
    environment.update(
        PYTHONPATH=str(ROOT),
        REDIS_URL=FLOWER_REDIS_URL,
        FLOWER_PORT=str(port),
        FLOWER_COOKIE_SECRET_FILE=str(tmp_path / "cookie-secret"),
        **env,
    )
    service = Service([sys.executable, "-m", "celery", "-A", "app", "flower"], env=environment, cwd=cwd)
    return service, f"http://127.0.0.1:{port}"


@pytest.fixture
def flower(tmp_path: Path) -> Iterator[tuple[Service, str]]:
    require_redis()
    service, url = start_flower(tmp_path, FLOWER_BASIC_AUTH=LOGIN)
    service.wait_listening(int(url.rsplit(":", 1)[1]))
    yield service, url
    service.stop()


def test_started_from_another_directory_flower_still_refuses_to_run_without_a_login(tmp_path: Path) -> None:
    require_redis()
    service, _ = start_flower(tmp_path)
    assert service.wait(timeout_s=60) != 0
    assert "refusing to start without a login" in service.output


def test_started_from_another_directory_flower_binds_loopback_and_asks_for_the_login(
    flower: tuple[Service, str],
) -> None:
    service, url = flower
    port = int(url.rsplit(":", 1)[1])
    listening = [
        connection.laddr.ip
        for process in [psutil.Process(service.process.pid), *psutil.Process(service.process.pid).children(True)]
        for connection in process.net_connections(kind="inet")
        if connection.status == psutil.CONN_LISTEN and connection.laddr.port == port
    ]
    assert listening == ["127.0.0.1"]
    for path in ("/", "/tasks", "/dead", "/api/workers"):
        assert request(url + path)[0] == 401, path
    assert request(url + "/", basic(LOGIN))[0] == 200


def test_with_basic_auth_a_forged_session_cookie_opens_nothing(flower: tuple[Service, str]) -> None:
    _, url = flower
    old_secret = hashlib.sha256(("conveyor-flower:" + LOGIN).encode()).hexdigest()  # derived from the password
    forged = create_signed_value(old_secret, "user", "admin").decode()
    assert request(url + "/dead", {"Cookie": f"user={forged}"})[0] == 401


def test_the_dead_page_shows_what_retry_sends_and_offers_no_retry_for_other_messages(
    flower: tuple[Service, str],
) -> None:
    _, url = flower
    dead = DeadSet(redis.Redis.from_url(FLOWER_REDIS_URL))
    pickled = {
        "body": base64.b64encode(b"\x80\x04pickle").decode(),
        "content_type": "application/x-python-serialize",
        "content_encoding": "binary",
        "headers": {"task": "tasks.notification_job.NotificationJob"},
    }
    dead.add(
        {
            "id": "pickled-1",
            "task": "tasks.notification_job.NotificationJob",
            "job_class": "NotificationJob",
            "queue": "default",
            "reason": "r",
            "error": "E",
            "attempts": 1,
            "message": pickled,
        }
    )
    dead.add(
        {
            "id": "json-1",
            "task": "tasks.notification_job.NotificationJob",
            "job_class": "NotificationJob",
            "args": [5, "hi"],
            "kwargs": {},
            "queue": "default",
            "reason": "r",
            "error": "E",
            "attempts": 1,
        }
    )
    _, _, page = request(url + "/dead", basic(LOGIN))
    json_row = page[page.index('id="dead-json-1"') :]
    json_row = json_row[: json_row.index("</tr>")]
    assert "<code>tasks.notification_job.NotificationJob</code> to <code>default</code>, application/json" in json_row
    assert "[[5, &quot;hi&quot;], {}]" in json_row
    assert "/json-1/retry" in json_row
    pickled_row = page[page.index('id="dead-pickled-1"') :]
    pickled_row = pickled_row[: pickled_row.index("</tr>")]
    assert "Cannot be retried: its body is application/x-python-serialize, not JSON" in pickled_row
    assert "/pickled-1/retry" not in pickled_row
    dead.delete("pickled-1")
    dead.delete("json-1")


def test_every_page_forbids_framing(flower: tuple[Service, str]) -> None:
    _, url = flower
    for path, headers in (("/", basic(LOGIN)), ("/dead", basic(LOGIN)), ("/metrics", {}), ("/tasks", {})):
        _status, response_headers, _ = request(url + path, headers)
        assert response_headers.get("X-Frame-Options") == "DENY", path
        policy = response_headers.get("Content-Security-Policy", "")
        assert "frame-ancestors 'none'" in policy, path
        # conveyor's own pages run no inline script: the stricter policy holds there
        assert ("script-src 'self'; object-src 'none'; base-uri 'none'" in policy) == (path == "/dead"), path


def test_credentials_that_are_not_ascii_get_401_not_500(flower: tuple[Service, str]) -> None:
    _, url = flower
    assert request(url + "/", basic("admin:pässwörd"))[0] == 401
    assert request(url + "/", {"Authorization": "Basic !!!not-base64"})[0] == 401


def test_a_link_cannot_put_text_in_the_success_banner(flower: tuple[Service, str]) -> None:
    _, url = flower
    status, _, page = request(url + "/dead?notice=Your+session+expired,+log+in+at+evil.example", basic(LOGIN))
    assert status == 200
    assert "evil.example" not in page


def test_the_audit_log_names_the_authenticated_login(flower: tuple[Service, str]) -> None:
    service, url = flower
    client = redis.Redis.from_url(FLOWER_REDIS_URL)
    DeadSet(client).add(
        {
            "id": "audited-1",
            "task": "x.Y",
            "job_class": "Y",
            "queue": "default",
            "error": "E",
            "reason": "r",
            "attempts": 1,
        }
    )
    _, headers, page = request(url + "/dead", basic(LOGIN))
    token = re.search(r'name="_xsrf" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    cookie = headers["Set-Cookie"].split(";")[0]
    status, _, _ = request(
        url + "/dead/audited-1/delete", {**basic(LOGIN), "Cookie": cookie}, data=f"_xsrf={token}&confirm=yes".encode()
    )
    assert status == 302
    service.wait_for("dead: admin deleted audited-1")


def test_with_oauth_a_cookie_signed_with_the_old_constant_secret_is_refused(tmp_path: Path) -> None:
    require_redis()
    service, url = start_flower(tmp_path, **OAUTH)  # OAuth counts as a login: Flower starts
    try:
        service.wait_listening(int(url.rsplit(":", 1)[1]))
        secret_file = tmp_path / "cookie-secret"
        assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
        secret = secret_file.read_text().strip()
        assert secret != OLD_OAUTH_SECRET
        assert len(secret) == 64

        forged = create_signed_value(OLD_OAUTH_SECRET, "user", "mallory@example.com").decode()
        status, headers, _ = request(url + "/dead", {"Cookie": f"user={forged}"})
        assert status == 302
        assert headers["Location"].startswith("/login")

        # The same cookie signed with the real secret is accepted: the forgery above was well-formed.
        genuine = create_signed_value(secret, "user", "alice@example.com").decode()
        assert request(url + "/dead", {"Cookie": f"user={genuine}"})[0] == 200
    finally:
        service.stop()


def test_a_second_start_keeps_the_cookie_secret(tmp_path: Path) -> None:
    require_redis()
    for _ in range(2):
        service, url = start_flower(tmp_path, FLOWER_BASIC_AUTH=LOGIN)
        service.wait_listening(int(url.rsplit(":", 1)[1]))
        service.stop()
        secret = (tmp_path / "cookie-secret").read_text()
        if _ == 0:
            first = secret
    assert secret == first


@pytest.fixture(scope="module")
def installed_service(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A rendered service installed (not editable) into a venv of its own, with conveyor from this checkout."""
    import shutil

    from cookiecutter.main import cookiecutter

    require_redis()
    uv = shutil.which("uv") or str(Path(sys.executable).with_name("uv"))
    base = tmp_path_factory.mktemp("installed")
    answers = {"service_name": "Installed Svc", "conveyor_source": str(ROOT)}
    rendered = Path(cookiecutter(str(ROOT / "template"), no_input=True, output_dir=str(base), extra_context=answers))
    venv = base / "venv"
    subprocess.run([uv, "venv", "--quiet", "--python", sys.executable, str(venv)], check=True, timeout=120)
    subprocess.run(
        [
            uv,
            "pip",
            "install",
            "--quiet",
            "--python",
            str(venv / "bin" / "python"),
            f"{ROOT}[flower,sqlalchemy]",
            str(rendered),
        ],
        check=True,
        timeout=600,
        env={**os.environ, "VIRTUAL_ENV": str(venv)},
    )
    shutil.rmtree(rendered)  # only the installed copy is left
    return venv


@pytest.mark.timeout(600)
def test_an_installed_service_started_from_another_directory_keeps_its_secure_flower(
    installed_service: Path, tmp_path: Path
) -> None:
    celery = [str(installed_service / "bin" / "celery"), "-A", "app", "flower"]
    environment = {key: value for key, value in os.environ.items() if not key.startswith(("FLOWER_", "PYTHONPATH"))}
    environment.update(REDIS_URL=FLOWER_REDIS_URL, FLOWER_COOKIE_SECRET_FILE=str(tmp_path / "secret"))

    refused = Service(celery, env={**environment, "FLOWER_PORT": str(free_port())}, cwd=Path("/"))
    assert refused.wait(timeout_s=60) != 0
    assert "refusing to start without a login" in refused.output

    port = free_port()
    flower = Service(celery, env={**environment, "FLOWER_PORT": str(port), "FLOWER_BASIC_AUTH": LOGIN}, cwd=Path("/"))
    try:
        flower.wait_listening(port)
        listening = {
            connection.laddr.ip
            for process in [psutil.Process(flower.process.pid), *psutil.Process(flower.process.pid).children(True)]
            for connection in process.net_connections(kind="inet")
            if connection.status == psutil.CONN_LISTEN and connection.laddr.port == port
        }
        assert listening == {"127.0.0.1"}
        assert request(f"http://127.0.0.1:{port}/dead")[0] == 401
        assert request(f"http://127.0.0.1:{port}/dead", basic(LOGIN))[0] == 200
    finally:
        flower.stop()
