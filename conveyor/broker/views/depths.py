"""How many jobs wait in each queue, per priority (the CLI's ``jobs queues``, Flower's metrics).

Example::

    for queue, priority, waiting in queue_depths(app):
        print(queue, priority, waiting)
"""

from __future__ import annotations

from typing import Any

from conveyor.defaults import PRIORITY_STEPS
from conveyor.settings import redis_client
from conveyor.wire import priority_queue_key

__all__ = ["queue_depths"]


def queue_depths(app: Any) -> list[tuple[str, int, int]]:
    """(queue, priority, waiting jobs) for every configured queue and priority step, in one round trip."""
    names = [queue.name for queue in app.conf.task_queues or []] or [app.conf.task_default_queue]
    steps = (app.conf.broker_transport_options or {}).get("priority_steps", PRIORITY_STEPS)
    client = redis_client(app)
    try:
        with client.pipeline(transaction=False) as pipe:
            for name in names:
                for step in steps:
                    pipe.llen(priority_queue_key(name, step))
            lengths = pipe.execute()
    finally:
        client.close()
    keys = [(name, step) for name in names for step in steps]
    return [(name, step, int(length)) for (name, step), length in zip(keys, lengths, strict=True)]
