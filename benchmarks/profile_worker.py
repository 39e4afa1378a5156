"""Where a worker's time goes per job: py-spy samples of its main process and of a pool child.

    python -m conveyor.devserver --private -- python -m benchmarks.profile_worker [--side conveyor] [--seconds 8]

A ``celery worker -c 2`` (prefork) of ``benchmarks.shipped_app`` drains a backlog of no-op jobs; once
the start marker ran, ``py-spy record`` samples the main process (fetch, dispatch, events, acks) and
one pool child (the job's own path) for ``--seconds``. Prints, for each, the functions with the largest
share of samples, inclusive (the function or anything it called) — the table in docs/benchmarks.md.
py-spy is in the ``bench`` extra; it needs ptrace (root, or ``kernel.yama.ptrace_scope=0``).
"""

from __future__ import annotations

import argparse
import collections
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import redis

from benchmarks.workers import bench_worker

ROOT = Path(__file__).resolve().parents[1]


def inclusive_shares(collapsed: str) -> tuple[int, list[tuple[str, float]]]:
    """(samples, [(function, share of samples in which it is on the stack)]) from py-spy's raw output."""
    totals: collections.Counter[str] = collections.Counter()
    samples = 0
    for line in collapsed.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():  # not a "frame;frame;... count" line
            continue
        count = int(count_text)
        samples += count
        frames = {
            frame.split(" (")[0] + " (" + frame.split(" (")[1].split(":")[0].rsplit("/", 2)[-1] + ")"
            if " (" in frame
            else frame
            for frame in stack.split(";")
        }
        for frame in frames:
            totals[frame] += count
    return samples, [(frame, count / samples) for frame, count in totals.most_common() if samples]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--side", default="conveyor", choices=["conveyor", "plain"])
    parser.add_argument("--jobs", type=int, default=30_000)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--pool", default="prefork", choices=["prefork", "threads"])
    parser.add_argument("--overrides", default="{}", help="BENCH_OVERRIDES for the conveyor side (JSON)")
    parser.add_argument("--output", default="", help="also write the tables here, as Markdown")
    options = parser.parse_args()
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    env = {**os.environ, "BENCH_SIDE": options.side, "BENCH_OVERRIDES": options.overrides}
    client = redis.Redis.from_url(os.environ["REDIS_URL"])
    client.flushdb()
    fill = "import sys\nfrom benchmarks import shipped_app as s\ns.fill(int(sys.argv[1]))\n"
    subprocess.run([sys.executable, "-c", fill, str(options.jobs)], cwd=ROOT, env=env, check=True)
    worker = bench_worker("benchmarks.shipped_app", options.pool, env=env)
    try:
        deadline = time.monotonic() + 120
        while client.get("bench:start") is None:
            if time.monotonic() > deadline:
                raise RuntimeError("the worker did not start")
            time.sleep(0.05)
        with tempfile.TemporaryDirectory() as tmp:
            outputs = {"main process": Path(tmp, "main.txt")}
            pids = [worker.pid]
            if options.pool == "prefork":  # the job runs in a child; with threads, in the main process
                outputs["pool child"] = Path(tmp, "child.txt")
                pids.append(psutil.Process(worker.pid).children()[0].pid)
            spies = [
                subprocess.Popen(
                    [
                        spy,
                        "record",
                        "--pid",
                        str(pid),
                        "--duration",
                        str(int(options.seconds)),
                        "--rate",
                        "250",
                        "--format",
                        "raw",
                        "--nonblocking",
                        "-o",
                        str(path),
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
                for pid, path in zip(pids, outputs.values(), strict=True)
            ]
            for spy_process in spies:
                spy_process.wait(timeout=options.seconds + 60)
            report = {name: inclusive_shares(path.read_text()) for name, path in outputs.items()}
    finally:
        worker.terminate()
        worker.wait(timeout=60)
    lines = [
        f"## Profile (`make profile`: py-spy, {options.side} side, {options.pool}, {options.seconds:g} s of a drain)",
        "",
        "Share of samples in which each function is on the stack (inclusive); frames every sample shares "
        "(the worker's start-up chain) are left out.",
    ]
    for name, (samples, shares) in report.items():
        lines += ["", f"{name}: {samples} samples", "", "| share | function |", "|---:|---|"]
        everywhere = shares[0][1] if shares else 1.0
        shown = [(frame, share) for frame, share in shares if share < everywhere - 0.005]
        lines += [f"| {share:.1%} | `{frame}` |" for frame, share in shown[: options.top]]
    text = "\n".join(lines) + "\n"
    print(text)
    if options.output:
        Path(options.output).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
