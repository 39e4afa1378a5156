"""Real service processes for the integration tests, whose output lines can be awaited."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from tests.processes import track

ROOT = Path(__file__).resolve().parents[2]


class Service:
    """A subprocess (own session) whose stdout+stderr lines are collected and can be waited on."""

    def __init__(self, argv: list[str], env: dict[str, str], cwd: Path = ROOT) -> None:
        self.process = track(
            subprocess.Popen(
                argv,
                cwd=cwd,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                start_new_session=True,
            )
        )
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    @classmethod
    def celery(cls, *args: str, env: dict[str, str]) -> Service:
        return cls([sys.executable, "-m", "celery", "-A", "app", *args], env={**os.environ, **env})

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            with self._changed:
                self.lines.append(line)
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    @property
    def output(self) -> str:
        with self._changed:
            return "".join(self.lines)

    def wait_for(self, text: str, timeout_s: float = 30, since: int = 0) -> None:
        """Wait until a line (from line number ``since`` on) contains ``text``."""

        def seen() -> bool:
            return any(text in line for line in self.lines[since:])

        with self._changed:
            self._changed.wait_for(lambda: seen() or self.process.poll() is not None, timeout_s)
            if not seen():
                raise AssertionError(f"never printed {text!r}; output:\n{''.join(self.lines)[-4000:]}")

    def wait_listening(self, port: int, timeout_s: float = 30) -> None:
        """Wait until the process (or a child) listens on ``port``, read from its sockets (psutil).

        A banner can come before the bind (Flower 2.0 prints "Visit me at" first).
        """
        import time

        import psutil

        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and self.process.poll() is None:
            processes = [psutil.Process(self.process.pid), *descendants(self.process.pid)]
            for process in processes:
                try:
                    sockets = process.net_connections(kind="inet")
                except psutil.Error:
                    continue
                if any(s.status == psutil.CONN_LISTEN and s.laddr.port == port for s in sockets):
                    return
            with self._changed:  # wakes early on new output or exit
                self._changed.wait(0.05)
        raise AssertionError(f"never listened on port {port}; output:\n{self.output[-4000:]}")

    def wait(self, timeout_s: float = 60) -> int:
        """Wait for the process to end by itself; returns its exit code (fails with its output if it does not)."""
        try:
            code = self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"still running after {timeout_s} s; output:\n{self.output[-6000:]}") from None
        self._reader.join(timeout=5)
        return code

    def send(self, signum: int = signal.SIGTERM) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signum)

    def stop(self, signum: int = signal.SIGTERM, timeout_s: float = 30) -> int:
        self.send(signum)
        try:
            code = self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            code = self.process.wait()
        self._reader.join(timeout=5)
        assert self.process.stdout is not None
        self.process.stdout.close()
        return code


def descendants(pid: int) -> list[Any]:
    import psutil

    try:
        return list(psutil.Process(pid).children(recursive=True))
    except psutil.NoSuchProcess:
        return []
