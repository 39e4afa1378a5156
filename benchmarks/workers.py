"""The worker every benchmark starts: ``celery -A <app> worker -c 2 -P <pool>`` from the repository, silent.

Example::

    worker = bench_worker("benchmarks.bench_app", "threads", *QUIET, env={**os.environ, "BENCH_FETCH": "super"})
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

__all__ = ["QUIET", "bench_worker", "wait_for"]

ROOT = Path(__file__).resolve().parents[1]
#: The start-up chatter a benchmark of conveyor's own paths leaves out (the "as shipped" runs keep it).
QUIET = ("--without-mingle", "--without-gossip", "--without-heartbeat")


def bench_worker(
    app: str, pool: str = "prefork", *flags: str, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """A worker of ``app`` with 2 processes or threads, logging warnings only, output discarded."""
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", app, "worker", "-c", "2", "-P", pool, "--loglevel=WARNING", *flags],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def wait_for(check: Any, what: str, timeout_s: float = 600) -> None:
    """Until ``check()`` is true (a worker's effect in Redis), polling every 20 ms; RuntimeError past the timeout."""
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not happen in {timeout_s:g} s")
        time.sleep(0.02)
