"""A test run stopped by SIGTERM (a timeout, CI) or Ctrl-C leaves no process of its own running."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.processes  # runs processes

A_TEST_THAT_STARTS_A_SERVICE = """
import sys
from pathlib import Path

import pytest

from tests.integration.services import Service


@pytest.fixture
def service():
    started = Service([sys.executable, "-c", "import time; print('up', flush=True); time.sleep(600)"], env={})
    started.wait_for("up")
    Path("{marker}").write_text(str(started.process.pid))
    yield started
    started.stop()


def test_waits(service):
    print("READY", flush=True)
    service.process.wait()
"""


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_stopped_run_ends_the_processes_its_fixtures_started(tmp_path: Path, signum: int) -> None:
    marker = tmp_path / "child.pid"
    test_file = tmp_path / "test_stopped.py"
    test_file.write_text(A_TEST_THAT_STARTS_A_SERVICE.replace("{marker}", str(marker)))
    run = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-s",
            "-p",
            "no:cacheprovider",
            "-p",
            "tests.conftest",
            "--rootdir",
            str(ROOT),
            "-c",
            str(ROOT / "pyproject.toml"),
            str(test_file),
        ],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert run.stdout is not None
    seen = []
    for line in run.stdout:  # until the test body runs, with its fixture's process up
        seen.append(line)
        if "READY" in line:
            break
    assert "READY" in "".join(seen), "".join(seen)
    child = int(marker.read_text())
    assert psutil.pid_exists(child)
    run.send_signal(signum)
    output, _ = run.communicate(timeout=60)
    _, alive = psutil.wait_procs([psutil.Process(child)] if psutil.pid_exists(child) else [], timeout=10)
    assert alive == [], output
    assert run.returncode != 0
