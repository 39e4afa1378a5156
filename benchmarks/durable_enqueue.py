"""What durable enqueue costs: ``perform_later`` with ``conveyor_enqueue_replicas = 1`` next to without.

    python -m benchmarks.durable_enqueue [--jobs 1000] [--rounds 3]

Starts a master and one replica (``redis-server`` on loopback ports of its own, nothing saved),
then enqueues N no-op jobs through two apps on the same master, interleaved (A B, B A …): one as
shipped, one whose every enqueue ends with ``WAIT 1`` (``conveyor.broker.replicas``). Prints the
median time per enqueue of each and the ratio. On loopback the replica's confirmation is a local
round trip; across machines add the network's.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager

import redis
from celery import Celery

import conveyor
from conveyor import Job
from conveyor.devserver import free_port


class DurableNoopJob(Job):
    def perform(self, n: int) -> None:
        pass


@contextmanager
def master_and_replica() -> Iterator[int]:
    """A master and its replica on loopback; the master's port, once the replica is in sync."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("durable_enqueue needs redis-server on PATH")
    master_port, replica_port = free_port(), free_port()
    folder = tempfile.mkdtemp(prefix="conveyor-durable-")
    common = ["--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", folder]
    master = subprocess.Popen([binary, "--port", str(master_port), *common], stdout=subprocess.DEVNULL)
    replica = subprocess.Popen(
        [binary, "--port", str(replica_port), "--replicaof", "127.0.0.1", str(master_port), *common],
        stdout=subprocess.DEVNULL,
    )
    try:
        client = redis.Redis(port=master_port)
        deadline = time.monotonic() + 30
        while True:  # redis-server signals nothing before it listens and its replica is online
            try:
                if (client.info("replication").get("slave0") or {}).get("state") == "online":
                    break
            except redis.ConnectionError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("the replica did not come online in 30 s")
            time.sleep(0.05)
        yield master_port
    finally:
        for process in (replica, master):
            process.terminate()
            process.wait(timeout=10)
        shutil.rmtree(folder, ignore_errors=True)


def enqueue(app: Celery, jobs: int) -> float:
    """Seconds per enqueue of ``jobs`` no-op jobs through ``app``."""
    app.set_current()
    started = time.perf_counter()
    for n in range(jobs):
        DurableNoopJob.perform_later(n)
    return (time.perf_counter() - started) / jobs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    options = parser.parse_args()
    with master_and_replica() as port:
        url = f"redis://127.0.0.1:{port}/0"
        shipped = conveyor.configure(Celery("shipped"), default=False, broker_url=url)
        durable = conveyor.configure(
            Celery("durable"), default=False, broker_url=url, broker_transport_options={"conveyor_enqueue_replicas": 1}
        )
        times: dict[str, list[float]] = {"as shipped": [], "conveyor_enqueue_replicas = 1": []}
        for round_ in range(options.rounds):
            pair = [("as shipped", shipped), ("conveyor_enqueue_replicas = 1", durable)]
            for name, app in pair if round_ % 2 == 0 else reversed(pair):
                enqueue(app, 50)  # warm: connections, declarations
                times[name].append(enqueue(app, options.jobs))
            redis.Redis(port=port).flushdb()
    base = statistics.median(times["as shipped"])
    print(f"Durable enqueue, {options.jobs} perform_later per run, {options.rounds} rounds, master + replica, loopback")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"{name:32} {median * 1e6:8.1f} us per enqueue   {median / base:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
