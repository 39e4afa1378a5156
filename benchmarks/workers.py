"""The worker every benchmark starts: ``celery -A <app> worker -c 2 -P <pool>`` from the repository, silent.

Example::

    worker = bench_worker("benchmarks.bench_app", "threads", *QUIET, env={**os.environ, "BENCH_FETCH": "super"})
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

__all__ = ["QUIET", "bench_worker"]

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
