"""The Schedule and Dead pages in Flower (installed by ``conveyor.web.flower.install``).

GET ``/schedule`` lists redbeat's entries; POST ``/schedule/<name>/enqueue|enable|disable``
acts on one. GET ``/dead`` lists the dead set (``conveyor.broker.dead.dead_set``); POST
``/dead/<job id>/retry|delete`` acts on one (the Busy page: ``conveyor.web.busy_views``).
All use Flower's ``BaseHandler``: the same login as Flower's own pages, and POSTs need the
form's XSRF token.
"""

from __future__ import annotations

import base64
import datetime as dt
import hmac
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar
from urllib.parse import urlsplit

import tornado.web
from flower.views import BaseHandler
from tornado.ioloop import IOLoop

from conveyor.broker.dead.dead_set import DeadSet
from conveyor.broker.dead.retry_plan import RetryPlan, redacted, retry_plan
from conveyor.errors import ConveyorError
from conveyor.jobs.logs import one_line
from conveyor.schedule.beat import FROM_FILE, Entry, enqueue_entry, read_entries, set_enabled
from conveyor.schedule.file import describe, local_clock, local_time
from conveyor.schedule.zoned_cron import ZonedCron

# Actions are audited on the same logger as the rest of the Flower integration.
logger = logging.getLogger("conveyor.web.flower")

__all__ = [
    "DeadActionView",
    "DeadView",
    "ScheduleActionView",
    "ScheduleView",
    "authenticated_user",
    "page_number",
    "same_origin",
]

T = TypeVar("T")


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
        rows.append(
            {
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
            }
        )
    return rows


_NOTICE = "conveyor_notice"


# conveyor's pages read and act on their own bounded pools, apart from each other and from the
# executor Flower shares: a slow action (or many) cannot stall the pages, nor Flower's own.
_READS = ThreadPoolExecutor(max_workers=4, thread_name_prefix="conveyor-pages")
_ACTIONS = ThreadPoolExecutor(max_workers=2, thread_name_prefix="conveyor-actions")

#: conveyor's pages run no inline script and load scripts only from Flower itself.
PAGE_CSP = "script-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"


class _Page(BaseHandler):  # type: ignore[misc]
    def set_default_headers(self) -> None:
        super().set_default_headers()
        self.set_header("Content-Security-Policy", PAGE_CSP)

    def get_template_namespace(self) -> dict[str, Any]:
        # Every page shows the notice the last action left (conveyor_page.html), read once here,
        # and hides its action forms in Flower's read-only mode.
        namespace: dict[str, Any] = super().get_template_namespace()
        namespace["notice"] = self.take_notice()
        namespace["read_only"] = bool(self.application.options.read_only)
        return namespace

    async def read(self, read: Callable[[], T]) -> T:
        """``read()`` on the pages' own pool."""
        return await IOLoop.current().run_in_executor(_READS, read)

    async def act(self, act: Callable[[], T]) -> T:
        """``act()`` on the actions' own pool."""
        return await IOLoop.current().run_in_executor(_ACTIONS, act)

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
        rows = await self.read(lambda: schedule_rows(app))
        self.render("schedule.html", title="Schedule", tab="schedule", rows=rows)


class _ActionView(_Page):
    def prepare(self) -> None:
        super().prepare()
        if self.application.options.read_only:  # Flower's FLOWER_READ_ONLY covers conveyor's actions too
            raise tornado.web.HTTPError(403, "Flower runs read-only (FLOWER_READ_ONLY): actions are turned off")

    def check_xsrf_cookie(self) -> None:
        super().check_xsrf_cookie()  # Flower's same-origin checks (made only when a login is configured)
        same_origin(self.request, required=not login_configured(self.application.options))  # always
        tornado.web.RequestHandler.check_xsrf_cookie(self)  # and the form's token, always

    def flash(self, notice: str) -> None:
        self.set_signed_cookie(_NOTICE, notice, expires_days=None, httponly=True, samesite="Strict")

    def _user(self) -> str:
        """Who did it, as Flower authenticated them; 403 for an action nobody can be named for."""
        user = authenticated_user(self.application.options, self.request.headers, self.current_user)
        if user is None:
            raise tornado.web.HTTPError(403, "cannot tell which login sent this: the action is refused")
        return user


def login_configured(options: Any) -> bool:
    return bool(options.basic_auth or options.auth)


def authenticated_user(options: Any, headers: Any, current_user: Any) -> str | None:
    """The login Flower accepted for this request, parsed exactly as Flower parses it; None if none matches.

    Flower splits the ``Authorization`` header on any whitespace and decodes the credentials
    leniently, so ``Basic  <b64>`` (two spaces) or a tab logs in: the audit must read the same.

    Example::

        authenticated_user(options, {"Authorization": "Basic YWRtaW46cHc="}, True)   # "admin"
    """
    if options.auth:  # OAuth: the e-mail from Flower's signed cookie, checked by get_current_user
        return str(current_user) if isinstance(current_user, str) and current_user else None
    if options.basic_auth:  # get_current_user accepted the header: name the login it matched
        try:
            scheme, credentials = headers.get("Authorization", "").split()
            given = base64.b64decode(credentials.encode())
        except ValueError:
            return None
        for login in options.basic_auth:
            if scheme == "Basic" and hmac.compare_digest(login.encode(), given):
                return str(login.partition(":")[0])
        return None
    return "anonymous (Flower runs without login)"


def same_origin(request: Any, required: bool) -> None:
    """403 unless the action comes from a page of this Flower (Fetch metadata, else Origin, else Referer).

    With no login configured Flower checks nothing, so a page on another port of the same host
    (same-site, not same-origin) could post with a tossed ``_xsrf`` cookie: there, one of the
    three must be present and name this origin.
    """
    site, origin, referer = (request.headers.get(name) for name in ("Sec-Fetch-Site", "Origin", "Referer"))
    if site and site != "same-origin":
        raise tornado.web.HTTPError(403, "Cross-site request forbidden")
    source = origin or referer
    if source and urlsplit(source).netloc != request.host:
        raise tornado.web.HTTPError(403, "Cross-origin request forbidden")
    if required and not (site or source):
        raise tornado.web.HTTPError(403, "Flower runs without login: an action must come from its own page")


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
            logger.info("schedule: %s asked to %s %s", user, action, one_line(name))  # before acting
            if action == "enqueue":
                job_id = enqueue_entry(app, entry)
                logger.info("schedule: %s enqueued %s now (job %s)", user, one_line(name), job_id)
                return f"Enqueued {name} (job {job_id})"
            set_enabled(app, name, action == "enable")
            logger.info("schedule: %s %sd %s", user, action, one_line(name))
            return f"{action.capitalize()}d {name}"

        self.flash(await self.act(act))
        self.redirect(self.reverse_url("schedule"))


class DeadView(_Page):
    @tornado.web.authenticated  # type: ignore[misc]
    async def get(self) -> None:
        app = self.application.capp
        dead_set = DeadSet.for_app(app)
        page = page_number(self.get_query_argument("page", "1"))

        def read() -> tuple[int, list[tuple[dict[str, Any], RetryPlan]]]:
            records = dead_set.list(limit=DEAD_PAGE_SIZE, offset=(page - 1) * DEAD_PAGE_SIZE)
            return dead_set.count(), [(redacted(record), retry_plan(app, record)) for record in records]

        total, rows = await self.read(read)
        pages = max(1, -(-total // DEAD_PAGE_SIZE))
        base = self.reverse_url("dead")
        self.render(
            "dead.html",
            title="Dead",
            tab="dead",
            total=total,
            rows=rows,
            when=_iso_clock,
            number=page,
            pages=pages,
            first=(page - 1) * DEAD_PAGE_SIZE,
            page_url=lambda to: f"{base}?page={to}",
        )


#: Dead records per page (the set keeps up to ``conveyor_dead_max_jobs``, 10,000 by default).
DEAD_PAGE_SIZE = 100


def page_number(raw: str) -> int:
    """``?page=`` as a page number from 1; 400 for anything else (never a 500)."""
    if not raw.isdigit() or not 1 <= int(raw) <= 1_000_000:
        raise tornado.web.HTTPError(400, f"page must be a number from 1, got {raw[:20]!r}")
    return int(raw)


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
            logger.info("dead: %s %s %s", user, "retrying" if action == "retry" else "deleting", one_line(job_id))
            try:
                done = dead_set.retry(app, job_id) if action == "retry" else dead_set.delete(job_id)
            except ConveyorError as exc:  # not retryable (not JSON, not a registered job): shown, not sent
                logger.warning("dead: %s could not %s %s: %s", user, action, one_line(job_id), exc)
                raise tornado.web.HTTPError(409, str(exc)) from None
            except Exception as exc:
                logger.error("dead: %s failed to %s %s: %r", user, action, one_line(job_id), exc)
                raise
            if not done:
                raise tornado.web.HTTPError(404, f"No dead job {job_id!r}")
            logger.info("dead: %s %s %s", user, "retried" if action == "retry" else "deleted", one_line(job_id))
            return f"{'Retried' if action == 'retry' else 'Deleted'} {job_id}"

        self.flash(await self.act(act))
        self.redirect(self.reverse_url("dead"))
