"""Flower's Busy page: worker processes, running jobs, concurrency limits, and Quiet / Stop.

GET ``/busy`` shows the worker processes (alive, or dead with their jobs about to be
recovered), the jobs they run (``conveyor.broker.views.busy``), the concurrency limits in use
(``conveyor.broker.controls``) and the Celery workers Flower knows from their events, each
with Sidekiq's Quiet and Stop buttons. POST ``/busy/worker/<node name>/quiet``: the worker stops taking jobs (Celery's
``cancel_consumer`` for each queue it consumes, as ``active_queues`` reports them); running jobs
finish, nothing is lost. POST ``/busy/worker/<node name>/stop``: a warm shutdown (Celery's
``shutdown`` control; running jobs finish, or a continuable job stops at its next checkpoint).
Both need the login, the form's XSRF token and a ticked "sure"; the node name must be one of
the workers Flower knows from their events (never a name taken from the request alone). Each
action is logged with the user.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import tornado.web

from conveyor.broker.controls import limit_keys
from conveyor.broker.views.busy import busy, workers
from conveyor.compat.flower import known_workers
from conveyor.schedule.file import local_clock
from conveyor.settings import redis_client
from conveyor.web.views import _ActionView, _Page

__all__ = ["BusyView", "WorkerActionView", "worker_rows"]

logger = logging.getLogger("conveyor.web.flower")

#: Seconds to wait for a worker's reply to a control command.
REPLY_TIMEOUT_S = 2.0


def worker_rows(application: Any) -> list[dict[str, Any]]:
    """The Celery workers Flower knows: node name, online or not, jobs running, processed."""
    rows = []
    for name, worker in sorted(known_workers(application).items()):
        rows.append(
            {
                "name": name,
                "alive": bool(getattr(worker, "alive", False)),
                "active": getattr(worker, "active", None),
                "processed": getattr(worker, "processed", None),
            }
        )
    return rows


class BusyView(_Page):
    @tornado.web.authenticated  # type: ignore[misc]
    async def get(self) -> None:
        app = self.application.capp

        def read() -> tuple[list[Any], list[Any], list[dict[str, Any]]]:
            client = redis_client(app)
            try:
                return workers(client), busy(client), limit_keys(client)
            finally:
                client.close()

        owners, running, limits = await self.read(read)
        now = dt.datetime.now(dt.UTC).timestamp()
        self.render(
            "busy.html",
            title="Busy",
            tab="busy",
            owners=owners,
            running=running,
            limits=limits,
            now=now,
            clock=local_clock,
            celery_workers=worker_rows(self.application),
        )


class WorkerActionView(_ActionView):
    @tornado.web.authenticated  # type: ignore[misc]
    async def post(self, name: str, action: str) -> None:
        app = self.application.capp
        user = self._user()
        if name not in known_workers(self.application):
            raise tornado.web.HTTPError(404, "no worker of that name has sent events to Flower")
        if self.get_body_argument("confirm", "") != "yes":
            self.flash(f"Not done: tick 'sure' next to {action.capitalize()} to {action} {name}")
            self.redirect(self.reverse_url("busy"))
            return

        def act() -> str:
            logger.info("workers: %s asked to %s %s", user, action, name)  # before acting (a known node name)
            if action == "stop":
                app.control.shutdown(destination=[name])
                logger.info("workers: %s stopped %s (warm shutdown)", user, name)
                return f"Stopping {name}: a warm shutdown, its running jobs finish"
            replies = app.control.inspect(destination=[name], timeout=REPLY_TIMEOUT_S).active_queues() or {}
            queues = [queue["name"] for queue in replies.get(name, []) if isinstance(queue, dict) and "name" in queue]
            for queue in queues:
                app.control.cancel_consumer(queue, destination=[name], reply=True, timeout=REPLY_TIMEOUT_S)
            logger.info("workers: %s quieted %s (%s)", user, name, ", ".join(queues) or "no queue")
            if not queues:
                return f"{name} consumes no queue (already quiet, or it did not answer)"
            return f"Quieted {name}: it takes no new job from {', '.join(queues)}; running jobs finish"

        self.flash(await self.act(act))
        self.redirect(self.reverse_url("busy"))
