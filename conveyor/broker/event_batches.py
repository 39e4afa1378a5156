"""Task events leave the worker in batches: one message per tenth of a second, not one per event.

Celery sends three task events per job (received, started, succeeded) for Flower. Its
worker already buffers them, but flushes the buffer at the next turn of its event loop, so in
practice every event is its own Redis ``PUBLISH``, a round trip the worker's main process waits
for. Measured (``python -m benchmarks.shipped --breakdown``): task events cost a third of a
worker's throughput.

This consumer bootstep flushes the buffer every ``EVENT_FLUSH_INTERVAL_S`` (0.1 s), or when
``EVENT_BATCH_SIZE`` (100) events wait, whichever comes first. A batch is one message holding a
list of events, the format Celery's own event receiver (and so Flower) reads since Celery 4:
every event still arrives, at most 0.1 s later, in order. The buffer is flushed when the
consumer stops, so a stopping worker's last events are sent too.

Example (done by ``conveyor.configure``)::

    app.steps["consumer"].add(EventBatches)
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from celery import bootsteps

from conveyor.defaults import EVENT_BATCH_SIZE, EVENT_FLUSH_INTERVAL_S

__all__ = ["EventBatches"]

logger = logging.getLogger("conveyor.broker.event_batches")


class EventBatches(bootsteps.StartStopStep):  # type: ignore[misc]
    """Consumer bootstep: send the buffered task events on a timer, in batches."""

    label = "conveyor event batches"
    # After Celery's Events step, which makes the dispatcher (again at each reconnection).
    requires = ("celery.worker.consumer.events:Events",)

    def __init__(self, consumer: Any, **kwargs: Any) -> None:
        super().__init__(consumer, **kwargs)
        self.timer: Any = None

    def start(self, consumer: Any) -> None:
        dispatcher = consumer.event_dispatcher
        # Celery buffers task events only with an event loop (prefork and threads on Redis;
        # not eventlet/gevent): without one there is no buffer to batch.
        if dispatcher is None or consumer.hub is None or "task" not in dispatcher.buffer_group:
            return
        dispatcher.buffer_limit = EVENT_BATCH_SIZE
        dispatcher.on_send_buffered = None  # no flush at every turn of the loop: the timer's
        self.timer = consumer.hub.call_repeatedly(EVENT_FLUSH_INTERVAL_S, self._flush, consumer)

    def stop(self, consumer: Any) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self._flush(consumer)

    shutdown = stop

    @staticmethod
    def _flush(consumer: Any) -> None:
        dispatcher = consumer.event_dispatcher
        if dispatcher is None:
            return
        try:
            dispatcher.flush(errors=False)
        except Exception as exc:  # events are monitoring: a failed flush never stops the worker
            with contextlib.suppress(Exception):
                logger.warning("conveyor: could not send task events: %s: %s", type(exc).__name__, exc)
