"""What an attack on conveyor's keys would destroy, put in place before a test that checks it is untouched."""

from __future__ import annotations

import redis

from conveyor.broker.dead.dead_set import DeadSet
from conveyor.records import dead_record
from tests.jobs import EchoJob


def protect_victims(client: redis.Redis) -> None:
    """A scheduled job (``scheduled-victim``) and a dead record (``dead-victim``)."""
    EchoJob.set(wait=3600).perform_later("scheduled-victim")
    DeadSet(client).add(dead_record("dead-victim", "r", error="E", task="x.Y", queue="default"))
