"""A module no hostile message may make a worker import: importing it leaves a marker in Redis.

It also defines what a hostile message names (an Enum, a Mailer, a model class), so a
resolver that imported by name would find them here.
"""

from __future__ import annotations

import enum
import os
import sys

import redis

from conveyor import Mailer

MARKER = "conveyor-test:security:imported"
redis.Redis.from_url(os.environ.get("SECURITY_REDIS_URL", "redis://127.0.0.1:6379/8")).set(MARKER, os.getpid())
sys.stderr.write("SECURITY MARKER MODULE IMPORTED\n")


class X(enum.Enum):
    A = 1


class Evil(Mailer):
    def hello(self) -> None:
        raise SystemExit("a hostile mailer ran")


def x() -> None:
    raise SystemExit("a hostile task ran")
