"""kombu#337 on this machine: a Celery countdown longer than the visibility timeout runs twice.

Why conveyor keeps long waits in its scheduled set. Two workers of the fault suite's app
(visibility timeout 5 s) on the Redis at ``REDIS_URL`` (``make bench-eta`` gives it one of its
own); one job through plain ``apply_async(countdown=15)`` and one through
``set(wait=15).perform_later()``; prints how often each ran.

    make bench-eta
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[1]
WAIT_S = 15


def main() -> None:
    base = os.environ["REDIS_URL"]
    os.environ["RELIABILITY_BROKER_URL"] = urlunsplit(urlsplit(base)._replace(path="/1"))
    os.environ["RELIABILITY_RECORDS_URL"] = urlunsplit(urlsplit(base)._replace(path="/2"))
    import redis

    records = redis.Redis.from_url(os.environ["RELIABILITY_RECORDS_URL"])
    records.flushdb()
    redis.Redis.from_url(os.environ["RELIABILITY_BROKER_URL"]).flushdb()
    from tests.reliability.app import VISIBILITY_TIMEOUT, DelayedJob, app

    workers = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "tests.reliability.app",
                "worker",
                "-c",
                "1",
                "-Q",
                "rel",
                "-n",
                f"eta{n}@%h",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
            ],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for n in range(2)
    ]
    try:
        app.set_current()
        deadline = time.monotonic() + 60
        while len(app.control.ping(timeout=1.0) or []) < 2:  # both workers answer
            if time.monotonic() > deadline:
                raise RuntimeError("the two workers did not start within 60 s")
        plain = app.tasks["tests.reliability.app.DelayedJob"].apply_async(countdown=WAIT_S).id
        scheduled = DelayedJob.set(wait=WAIT_S).perform_later().job_id
        time.sleep(WAIT_S + 2 * VISIBILITY_TIMEOUT)
        raw: dict[bytes, bytes] = records.hgetall("runs")  # type: ignore[assignment]
        counts = {key.decode(): int(value) for key, value in raw.items()}
    finally:
        for worker in workers:
            worker.terminate()
        for worker in workers:
            worker.wait(timeout=30)
    print(f"wait {WAIT_S} s, visibility timeout {VISIBILITY_TIMEOUT:g} s, 2 workers:")
    print(f"  plain Celery apply_async(countdown={WAIT_S}): ran {counts.get(plain, 0)}x")
    print(f"  conveyor set(wait={WAIT_S}) (scheduled set): ran {counts.get(scheduled, 0)}x")


if __name__ == "__main__":
    main()
