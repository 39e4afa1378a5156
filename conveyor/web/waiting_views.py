"""The Scheduled and Retries pages in Flower: jobs waiting in the scheduled set, searchable, with actions.

GET ``/scheduled`` and ``/retries`` (``?q=`` searches job class, queue, arguments, id and
error); POST ``/waiting/<page>/<action>`` with one or more ``id`` fields runs, deletes or kills
(to the dead set) the selected jobs (same login and XSRF token as the other pages, logged with
the user before and after; Delete needs its "sure" box). The pages page (``?page=``), the
search applies before the page is cut, and up to 500 ids act in one read of the set and one
script. See ``conveyor.broker.scheduled.waiting``.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any
from urllib.parse import urlencode

import tornado.web

from conveyor.broker.scheduled import waiting
from conveyor.compat.flower import known_tasks
from conveyor.schedule.file import local_clock
from conveyor.settings import redis_client
from conveyor.web.views import _ActionView, _Page, page_number

__all__ = ["RetriesView", "ScheduledView", "WaitingActionView"]

logger = logging.getLogger("conveyor.web.flower")

_KINDS: dict[str, tuple[waiting.Kind, ...]] = {"scheduled": ("scheduled", "throttled"), "retries": ("retry",)}

#: What the Why column says of each kind of waiting job.
WHY: dict[str, str] = {
    "scheduled": "sent with set(wait=…) or set(wait_until=…): goes to its queue when due",
    "throttled": "held back by its throttle: goes to its queue when the window has room",
    "retry": "waiting for its retry",
}

#: Waiting jobs per page.
PAGE_SIZE = 200


class _WaitingPage(_Page):
    page = "scheduled"

    @tornado.web.authenticated  # type: ignore[misc]
    async def get(self) -> None:
        app = self.application.capp
        search = self.get_query_argument("q", "")[:200]
        number = page_number(self.get_query_argument("page", "1"))

        def read() -> waiting.Listing:
            client = redis_client(app)
            try:
                return waiting.listing(client, _KINDS[self.page], search, PAGE_SIZE, (number - 1) * PAGE_SIZE)
            finally:
                client.close()

        found = await self.read(read)
        now = dt.datetime.now(dt.UTC).timestamp()
        title = "Retries" if self.page == "retries" else "Scheduled"

        def page_url(to: int) -> str:
            return f"{self.reverse_url(self.page)}?" + urlencode({"q": search, "page": to} if search else {"page": to})

        self.render(
            "waiting.html",
            title=title,
            tab=self.page,
            page=self.page,
            jobs=found.jobs,
            total=found.total,
            search=search,
            now=now,
            clock=local_clock,
            number=number,
            pages=max(1, -(-found.total // PAGE_SIZE)),
            first=(number - 1) * PAGE_SIZE,
            page_url=page_url,
            known=known_tasks(self.application),  # a job id links to Flower's task page only if Flower knows it
            why=WHY,
        )


class ScheduledView(_WaitingPage):
    page = "scheduled"


class RetriesView(_WaitingPage):
    page = "retries"


class WaitingActionView(_ActionView):
    @tornado.web.authenticated  # type: ignore[misc]
    async def post(self, page: str, action: str) -> None:
        app = self.application.capp
        user = self._user()
        ids = list(dict.fromkeys(job_id for job_id in self.get_body_arguments("id") if job_id))[:MAX_SELECTED]
        if action == "delete" and ids and self.get_body_argument("confirm", "") != "yes":
            self.flash("Not deleted: tick 'sure' next to Delete to delete the selected jobs")
            self.redirect(self.reverse_url(page))
            return

        def act() -> str:
            client = redis_client(app)
            logger.info("%s: %s asked to %s %d job(s)", page, user, action, len(ids))  # before acting
            try:
                do: Any = {
                    "run": waiting.run_now,
                    "delete": waiting.delete,
                    "kill": lambda c, i: waiting.kill(c, i, f"{user} (Flower)"),
                }[action]
                outcome: dict[str, bool] = do(client, ids)
            except Exception as exc:
                logger.error("%s: %s failed to %s: %s: %s", page, user, action, type(exc).__name__, exc)
                raise
            finally:
                client.close()
            done = [job_id for job_id, flag in outcome.items() if flag]
            past = {"run": "ran now", "delete": "deleted", "kill": "killed"}[action]
            for job_id in done:
                logger.info("%s: %s %s %r", page, user, past, job_id)
            verb = {"run": "Sent to their queue", "delete": "Deleted", "kill": "Moved to the dead set"}[action]
            missing = len(ids) - len(done)
            return f"{verb}: {len(done)} job(s)" + (f"; {missing} no longer waiting" if missing else "")

        self.flash(await self.act(act) if ids else "Select at least one job")
        self.redirect(self.reverse_url(page))


#: Ids one action accepts (a page shows PAGE_SIZE; several pages' worth at most).
MAX_SELECTED = 500
