"""Handing a running job's message off: the job itself ends its claim, not the worker's main process.

A continuable job interrupted in a cold shutdown's soft-shutdown window enqueues itself again
with its progress; its original message must then be acknowledged, or it comes back at the
worker's close and the job runs again from the progress it started with. But during that
window Celery's main process sleeps in a signal handler and acknowledges nothing (celery#9505):
the job's own process removes the message's unacknowledged record and its claim, so the close
hands nothing back and no recovery finds it. The main process's late acknowledgement, if any,
then finds nothing to do.

Example::

    hand_off(app, task.request.properties["delivery_tag"])   # conveyor.jobs.execution
"""

from __future__ import annotations

from typing import Any

from conveyor.broker.scripts import Script
from conveyor.keys import CLAIMS_KEY, HELD_PREFIX

__all__ = ["hand_off"]

_HAND_OFF = Script("hand_off", helpers=True)


def hand_off(app: Any, delivery_tag: str) -> bool:
    """Acknowledge ``delivery_tag`` from any process of the worker; True if it was still unacknowledged."""
    with app.connection_for_write() as connection:
        channel = connection.default_channel
        with channel.conn_or_acquire() as client:
            keys = [channel.unacked_key, channel.unacked_index_key, CLAIMS_KEY]
            return bool(_HAND_OFF(client, keys, [delivery_tag, HELD_PREFIX]))
