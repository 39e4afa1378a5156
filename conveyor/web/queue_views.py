"""The Queues page in Flower: size, latency, consumers, paused; pause, resume and clear.

GET ``/queues`` lists every configured queue and every non-empty queue no live worker
consumes (``conveyor.broker.queue_state.overview``). POST ``/queues/<name>/pause|resume|clear``
acts on one (same login and XSRF token as the other pages, logged with the user); clearing
asks for the queue's name to be typed, as a confirmation that needs no script.
"""

from __future__ import annotations

import logging
from typing import Any

import tornado.web
from tornado.ioloop import IOLoop

from conveyor.broker.queue_state import QueueRow, overview, pause, resume
from conveyor.routing import validate_queue_name
from conveyor.settings import redis_client
from conveyor.web.views import _ActionView, _Page

__all__ = ["QueueActionView", "QueuesView"]

logger = logging.getLogger("conveyor.web.flower")


class QueuesView(_Page):
    @tornado.web.authenticated  # type: ignore[misc]
    async def get(self) -> None:
        app = self.application.capp

        def read() -> list[QueueRow]:
            client = redis_client(app)
            try:
                return overview(app, client)
            finally:
                client.close()

        rows = await IOLoop.current().run_in_executor(None, read)
        self.render("queues.html", title="Queues", tab="queues", rows=rows)


class QueueActionView(_ActionView):
    @tornado.web.authenticated  # type: ignore[misc]
    async def post(self, name: str, action: str) -> None:
        app = self.application.capp
        user = self._user()
        try:
            validate_queue_name(name, "queue", error=ValueError)
        except ValueError as exc:
            raise tornado.web.HTTPError(400, str(exc)) from None
        confirmation = self.get_body_argument("confirm", "")

        def act() -> str:
            if action == "clear" and confirmation != name:
                return f"Not cleared: type {name} in the box to confirm"
            if action == "clear":  # as `celery -A app jobs clear`: kombu's purge of every priority list
                with app.connection_for_write() as connection:
                    done: Any = connection.default_channel.queue_purge(name) or 0
            else:
                client = redis_client(app)
                try:
                    done = {"pause": pause, "resume": resume}[action](client, name)
                finally:
                    client.close()
            past = {"pause": "paused", "resume": "resumed", "clear": "cleared"}[action]
            deleted = f" ({done} job(s) deleted)" if action == "clear" else ""
            logger.info("queues: %s %s %s%s", user, past, name, deleted)
            if action == "clear":
                return f"Cleared {name}: {done} job(s) deleted"
            return f"{'Paused' if action == 'pause' else 'Resumed'} {name}"

        self.flash(await IOLoop.current().run_in_executor(None, act))
        self.redirect(self.reverse_url("queues"))
