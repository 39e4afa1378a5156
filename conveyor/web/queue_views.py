"""The Queues page in Flower: size, latency, consumers, paused; pause, resume and clear.

GET ``/queues`` lists every configured queue and every non-empty queue no live worker
consumes (``conveyor.broker.views.queue_state.overview``). POST ``/queues/<name>/pause|resume|clear``
acts on one (same login and XSRF token as the other pages, logged with the user before it acts
and again when done or failed); clearing asks for the queue's name to be typed, as a
confirmation that needs no script. An action touches only a queue ``known_queues`` lists, never
a reserved key (``conveyor:scheduled``, ``_kombu…``): 400 with the reason, nothing changed.
"""

from __future__ import annotations

import logging

import tornado.web

from conveyor.broker.views.queue_state import QueueRow, action_refusal, overview, pause, purge, resume
from conveyor.durations import duration
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

        rows = await self.read(read)
        self.render("queues.html", title="Queues", tab="queues", rows=rows, duration=duration)


class QueueActionView(_ActionView):
    @tornado.web.authenticated  # type: ignore[misc]
    async def post(self, name: str, action: str) -> None:
        app = self.application.capp
        user = self._user()
        confirmation = self.get_body_argument("confirm", "")
        if action == "clear" and confirmation != name:
            self.flash(f"Not cleared: type {name} in the box to confirm")
            self.redirect(self.reverse_url("queues"))
            return

        def act() -> str:
            client = redis_client(app)
            try:
                refusal = action_refusal(app, client, name, action)
                if refusal is not None:
                    logger.warning("queues: %s was refused %s of %r: %s", user, action, name, refusal)
                    raise tornado.web.HTTPError(400, refusal)
                logger.info("queues: %s %s %r", user, _DOING[action], name)  # before acting: a failure is audited too
                try:
                    done = (
                        purge(app, client, name)
                        if action == "clear"
                        else {"pause": pause, "resume": resume}[action](client, name)
                    )
                except Exception as exc:
                    logger.error("queues: %s failed to %s %r: %s: %s", user, action, name, type(exc).__name__, exc)
                    raise
            finally:
                client.close()
            if action == "clear":
                logger.info("queues: %s cleared %r (%s job(s) deleted)", user, name, done)
                return f"Cleared {name}: {done} job(s) deleted"
            logger.info("queues: %s %s %r", user, "paused" if action == "pause" else "resumed", name)
            return f"{'Paused' if action == 'pause' else 'Resumed'} {name}"

        self.flash(await self.act(act))
        self.redirect(self.reverse_url("queues"))


_DOING = {"pause": "pausing", "resume": "resuming", "clear": "clearing"}
