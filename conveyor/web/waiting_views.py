"""The Scheduled and Retries pages in Flower: jobs waiting in the scheduled set, searchable, with actions.

GET ``/scheduled`` and ``/retries`` (``?q=`` searches job class, queue, arguments, id and
error); POST ``/waiting/<page>/<action>`` with one or more ``id`` fields runs, deletes or kills
(to the dead set) the selected jobs (same login and XSRF token as the other pages, logged with
the user). See ``conveyor.broker.waiting``.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import tornado.web
from tornado.ioloop import IOLoop

from conveyor.broker import waiting
from conveyor.schedule.file import local_clock
from conveyor.settings import redis_client
from conveyor.web.views import _ActionView, _Page

__all__ = ["RetriesView", "ScheduledView", "WaitingActionView"]

logger = logging.getLogger("conveyor.web.flower")

_KINDS = {"scheduled": ("scheduled", "throttled"), "retries": ("retry",)}


class _WaitingPage(_Page):
    page = "scheduled"

    @tornado.web.authenticated  # type: ignore[misc]
    async def get(self) -> None:
        app = self.application.capp
        search = self.get_query_argument("q", "")[:200]

        def read() -> list[waiting.WaitingJob]:
            client = redis_client(app)
            try:
                return [job for job in waiting.waiting(client, search=search) if job.kind in _KINDS[self.page]]
            finally:
                client.close()

        jobs = await IOLoop.current().run_in_executor(None, read)
        now = dt.datetime.now(dt.UTC).timestamp()
        title = "Retries" if self.page == "retries" else "Scheduled"
        self.render("waiting.html", title=title, tab=self.page, page=self.page, jobs=jobs, search=search, now=now,
                    clock=local_clock)  # fmt: skip


class ScheduledView(_WaitingPage):
    page = "scheduled"


class RetriesView(_WaitingPage):
    page = "retries"


class WaitingActionView(_ActionView):
    @tornado.web.authenticated  # type: ignore[misc]
    async def post(self, page: str, action: str) -> None:
        app = self.application.capp
        user = self._user()
        ids = [job_id for job_id in self.get_body_arguments("id") if job_id][:500]

        def act() -> str:
            client = redis_client(app)
            do: Any = {"run": waiting.run_now, "delete": waiting.delete,
                       "kill": lambda c, i: waiting.kill(c, i, f"{user} (Flower)")}[action]  # fmt: skip
            try:
                done = [job_id for job_id in ids if do(client, job_id)]
            finally:
                client.close()
            past = {"run": "ran now", "delete": "deleted", "kill": "killed"}[action]
            for job_id in done:
                logger.info("%s: %s %s %s", page, user, past, job_id)
            verb = {"run": "Sent to their queue", "delete": "Deleted", "kill": "Moved to the dead set"}[action]
            missing = len(ids) - len(done)
            return f"{verb}: {len(done)} job(s)" + (f"; {missing} no longer waiting" if missing else "")

        self.flash(await IOLoop.current().run_in_executor(None, act) if ids else "Select at least one job")
        self.redirect(self.reverse_url(page))
