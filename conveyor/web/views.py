"""The Schedule and Dead pages in Flower (installed by ``conveyor.web.flower.install``).

GET ``/schedule`` lists redbeat's entries; POST ``/schedule/<name>/enqueue|enable|disable``
acts on one. GET ``/dead`` lists the dead set (``conveyor.broker.dead_set``); POST
``/dead/<job id>/retry|delete`` acts on one (the Busy page: ``conveyor.web.busy_views``).
All use Flower's ``BaseHandler``: the same login as Flower's own pages, and POSTs need the
form's XSRF token.
"""

from __future__ import annotations

import base64
import datetime as dt
import hmac
import logging
from typing import Any

import tornado.web
from flower.views import BaseHandler
from tornado.ioloop import IOLoop

from conveyor.broker.dead_set import DeadSet, RetryPlan, retry_plan
from conveyor.errors import ConveyorError
from conveyor.schedule.beat import FROM_FILE, Entry, enqueue_entry, read_entries, set_enabled
from conveyor.schedule.file import describe, local_clock, local_time
from conveyor.schedule.zoned_cron import ZonedCron

# Actions are audited on the same logger as the rest of the Flower integration.
logger = logging.getLogger("conveyor.web.flower")

__all__ = ["DeadActionView", "DeadView", "ScheduleActionView", "ScheduleView"]


def _zone(schedule: Any) -> str:
    return schedule.timezone if isinstance(schedule, ZonedCron) else "UTC"


def _when(moment: dt.datetime | None, zone: str) -> str:
    return "never" if moment is None else local_time(moment, zone)


def next_run(entry: Any) -> dt.datetime | None:
    """When the entry runs next: now + the schedule's remaining time since its last run."""
    if entry.last_run_at is None:
        return None
    remaining = entry.schedule.remaining_estimate(entry.last_run_at)
    now = dt.datetime.now(dt.UTC)  # read after the schedule's own "now", so the sum never falls short
    return now + max(remaining, dt.timedelta(0)) if remaining is not None else None


def schedule_rows(app: Any) -> list[dict[str, Any]]:
    rows = []
    for entry in read_entries(app):
        words, zone = describe(entry.schedule), _zone(entry.schedule)
        from_file = (entry.options or {}).get(FROM_FILE) or {}
        rows.append({
            "name": entry.name,
            "job": entry.task,
            "description": from_file.get("description") or "",
            "source": "schedule.yaml" if from_file else "redbeat API",
            "schedule": words,
            "timezone": zone,
            "next_run": _when(next_run(entry), zone) if entry.enabled else "disabled",
            # A synced entry counts from the sync (its stored last_run_at); it has not run until it has a count.
            "last_run": _when(entry.last_run_at, zone) if entry.total_run_count else "never",
            "enabled": entry.enabled,
        })  # fmt: skip
    return rows


_NOTICE = "conveyor_notice"


class _Page(BaseHandler):  # type: ignore[misc]
    def get_template_namespace(self) -> dict[str, Any]:
        # Every page shows the notice the last action left (conveyor_page.html), read once here.
        namespace: dict[str, Any] = super().get_template_namespace()
        namespace["notice"] = self.take_notice()
        return namespace

    def take_notice(self) -> str | None:
        """The message the last action left (a signed cookie, read once), never text from the URL."""
        raw = self.get_signed_cookie(_NOTICE, max_age_days=1)
        if raw is None:
            return None
        self.clear_cookie(_NOTICE)
        return str(raw.decode("utf-8", errors="replace"))


class ScheduleView(_Page):
    @tornado.web.authenticated  # type: ignore[misc]
    async def get(self) -> None:
        app = self.application.capp
        rows = await IOLoop.current().run_in_executor(None, schedule_rows, app)
        self.render("schedule.html", title="Schedule", tab="schedule", rows=rows)


class _ActionView(_Page):
    def check_xsrf_cookie(self) -> None:
        super().check_xsrf_cookie()  # Flower's same-origin checks
        tornado.web.RequestHandler.check_xsrf_cookie(self)  # and the form's token, always

    def flash(self, notice: str) -> None:
        self.set_signed_cookie(_NOTICE, notice, expires_days=None, httponly=True, samesite="Strict")

    def _user(self) -> str:
        """Who did it, as Flower authenticated them (never a name taken from an unchecked header)."""
        options = self.application.options
        if options.auth:  # OAuth: the e-mail from Flower's signed cookie, checked by get_current_user
            return str(self.current_user)
        if options.basic_auth:  # get_current_user accepted the header: name the login it matched
            header = self.request.headers.get("Authorization", "")
            try:
                given = base64.b64decode(header.partition(" ")[2], validate=True)
            except ValueError:
                return "unknown"
            for login in options.basic_auth:
                if hmac.compare_digest(login.encode(), given):
                    return str(login.partition(":")[0])
            return "unknown"
        return "anonymous (Flower runs without login)"


class ScheduleActionView(_ActionView):
    @tornado.web.authenticated  # type: ignore[misc]
    async def post(self, name: str, action: str) -> None:
        app = self.application.capp
        user = self._user()

        def act() -> str:
            try:
                entry = Entry.from_key(Entry.generate_key(app, name), app=app)
            except KeyError:
                raise tornado.web.HTTPError(404, f"No schedule entry {name!r}") from None
            if action == "enqueue":
                job_id = enqueue_entry(app, entry)
                logger.info("schedule: %s enqueued %s now (job %s)", user, name, job_id)
                return f"Enqueued {name} (job {job_id})"
            set_enabled(app, name, action == "enable")
            logger.info("schedule: %s %sd %s", user, action, name)
            return f"{action.capitalize()}d {name}"

        self.flash(await IOLoop.current().run_in_executor(None, act))
        self.redirect(self.reverse_url("schedule"))


class DeadView(_Page):
    @tornado.web.authenticated  # type: ignore[misc]
    async def get(self) -> None:
        app = self.application.capp
        dead_set = DeadSet.for_app(app)

        def read() -> tuple[int, list[tuple[dict[str, Any], RetryPlan]]]:
            return dead_set.count(), [(record, retry_plan(app, record)) for record in dead_set.list(limit=200)]

        total, rows = await IOLoop.current().run_in_executor(None, read)
        self.render("dead.html", title="Dead", tab="dead", total=total, rows=rows, when=_iso_clock)


def _iso_clock(iso: str | None) -> str:
    """An ISO 8601 time from a record, in the local format of the other pages."""
    try:
        return local_clock(dt.datetime.fromisoformat(str(iso)).timestamp()) if iso else ""
    except ValueError:
        return str(iso)


class DeadActionView(_ActionView):
    @tornado.web.authenticated  # type: ignore[misc]
    async def post(self, job_id: str, action: str) -> None:
        app = self.application.capp
        user = self._user()

        confirmed = self.get_body_argument("confirm", "") == "yes"

        def act() -> str:
            if action == "delete" and not confirmed:
                return f"Not deleted: tick 'sure' next to Delete to delete {job_id}"
            dead_set = DeadSet.for_app(app)
            try:
                done = dead_set.retry(app, job_id) if action == "retry" else dead_set.delete(job_id)
            except ConveyorError as exc:  # not retryable (not JSON, not a registered job): shown, not sent
                raise tornado.web.HTTPError(409, str(exc)) from None
            if not done:
                raise tornado.web.HTTPError(404, f"No dead job {job_id!r}")
            logger.info("dead: %s %s %s", user, "retried" if action == "retry" else "deleted", job_id)
            return f"{'Retried' if action == 'retry' else 'Deleted'} {job_id}"

        self.flash(await IOLoop.current().run_in_executor(None, act))
        self.redirect(self.reverse_url("dead"))
