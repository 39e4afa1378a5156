"""Flower, secure by default, with a Schedule page and queue depth in ``/metrics``.

Flower has no plugin API, but ``celery -A app flower`` executes Flower's config
file (``flowerconfig.py`` in the working directory) before it builds its
tornado application. The service's ``flowerconfig.py`` calls ``require_login``
(refuse to start without credentials unless explicitly told to run open) and
``install`` (add the Schedule page to Flower's handler list, the navigation
link to its navbar, and a queue-depth collector to Prometheus).

The Schedule page uses Flower's own ``BaseHandler`` (so its login) and extends
Flower's ``base.html`` (so its look). Its actions — enqueue now, disable,
enable — are POST forms with tornado's XSRF token, and each is logged with the
user who did it.

Example (``flowerconfig.py``)::

    basic_auth = require_login(settings.flower_basic_auth, open_ok=settings.flower_unauthenticated)
    install()
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import tornado.web
from tornado.routing import URLSpec
from tornado.template import BaseLoader, Template

from conveyor.compat import check_web
from conveyor.compat import flower as flower_compat
from conveyor.web.secrets import read_or_create

__all__ = [
    "LOOPBACK_HOSTS",
    "QueueDepthCollector",
    "SecurityHeaders",
    "cookie_secret",
    "host_allowed",
    "install",
    "require_login",
]

logger = logging.getLogger("conveyor.web.flower")
TEMPLATES = Path(__file__).parent / "templates" / "flower"
_NAV_ITEM = """        <li class="nav-item">
          <a class="nav-link{% if active_tab == 'schedule' %} active{% end %}"
            href="{{ reverse_url('schedule') }}"
            {% if active_tab == 'schedule' %}aria-current="page"{% end %}>Schedule</a>
        </li>
        <li class="nav-item">
          <a class="nav-link{% if active_tab == 'dead' %} active{% end %}"
            href="{{ reverse_url('dead') }}"
            {% if active_tab == 'dead' %}aria-current="page"{% end %}>Dead</a>
        </li>
        <li class="nav-item">
          <a class="nav-link{% if active_tab == 'queues' %} active{% end %}"
            href="{{ reverse_url('queues') }}"
            {% if active_tab == 'queues' %}aria-current="page"{% end %}>Queues</a>
        </li>
        <li class="nav-item">
          <a class="nav-link{% if active_tab == 'scheduled' %} active{% end %}"
            href="{{ reverse_url('scheduled') }}"
            {% if active_tab == 'scheduled' %}aria-current="page"{% end %}>Scheduled</a>
        </li>
        <li class="nav-item">
          <a class="nav-link{% if active_tab == 'retries' %} active{% end %}"
            href="{{ reverse_url('retries') }}"
            {% if active_tab == 'retries' %}aria-current="page"{% end %}>Retries</a>
        </li>
        <li class="nav-item">
          <a class="nav-link{% if active_tab == 'job_metrics' %} active{% end %}"
            href="{{ reverse_url('job_metrics') }}"
            {% if active_tab == 'job_metrics' %}aria-current="page"{% end %}>Metrics</a>
        </li>
        <li class="nav-item">
          <a class="nav-link{% if active_tab == 'busy' %} active{% end %}"
            href="{{ reverse_url('busy') }}"
            {% if active_tab == 'busy' %}aria-current="page"{% end %}>Busy</a>
        </li>
        <li class="nav-item">
          <a class="nav-link{% if active_tab == 'batches' %} active{% end %}"
            href="{{ reverse_url('batches') }}"
            {% if active_tab == 'batches' %}aria-current="page"{% end %}>Batches</a>
        </li>
"""


def require_login(basic_auth: Iterable[str] | None, open_ok: bool = False, oauth: bool = False) -> list[str]:
    """Return the basic-auth credentials, or exit explaining how to give some.

    ``oauth`` (Flower's ``auth`` option, ``FLOWER_AUTH``, is set) counts as a login.
    ``open_ok`` (``FLOWER_UNAUTHENTICATED=1``) runs Flower without a login, on purpose.
    """
    credentials = [item for item in (basic_auth or []) if item]
    if oauth:
        return credentials
    for item in credentials:
        user, _, password = item.partition(":")
        if not user or not password:
            raise SystemExit(f"flower: FLOWER_BASIC_AUTH entries are user:password, got {item!r}")
    if not credentials and not open_ok:
        raise SystemExit(
            "flower: refusing to start without a login. Set FLOWER_BASIC_AUTH=user:password "
            "(several: comma-separated), or FLOWER_UNAUTHENTICATED=1 to run it open on purpose."
        )
    if not credentials:
        logger.warning("flower: running WITHOUT authentication (FLOWER_UNAUTHENTICATED=1)")
    return credentials


def cookie_secret(configured: str | None, path: Path) -> str:
    """Flower's cookie secret: ``configured``, else a random one kept in ``path`` (0600) across restarts.

    Never a constant nor derived from a password: a known secret lets anyone forge the
    ``user`` cookie of an OAuth login, and one derived from a password turns a stolen cookie
    into an offline password guess.
    """
    if configured:
        return configured
    return read_or_create(path, lambda: secrets.token_hex(32))


#: Added after the navbar of every Flower page: Flower's task table is wider than its card, which
#: hides what overflows (the Received column was cut off): the card scrolls sideways, and a long job
#: name (``tasks.report_generation_job.ReportGenerationJob``) wraps instead of pushing the times out.
_FLOWER_STYLE = """
<style>
  .tasks-table-card { overflow-x: auto; }
  #tasks-table td:first-child { white-space: normal; overflow-wrap: anywhere; min-width: 12rem; }
</style>
"""


class _Loader(BaseLoader):  # type: ignore[misc]
    """Templates from conveyor's folder, then Flower's; Flower's navbar gains Schedule and Dead links."""

    def __init__(self, roots: list[Path], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.roots = roots

    def resolve_path(self, name: str, parent_path: str | None = None) -> str:
        return name

    def _create_template(self, name: str) -> Template:
        for root in self.roots:
            path = root / name
            if path.is_file():
                source = path.read_text(encoding="utf-8")
                if name == "navbar.html" and "reverse_url('schedule')" not in source:
                    source = (flower_compat.splice_navbar(source, _NAV_ITEM) or source) + _FLOWER_STYLE
                return Template(source, name=name, loader=self)
        raise FileNotFoundError(f"template {name!r} not found in {', '.join(map(str, self.roots))}")


#: Host names a Flower running without login answers to (its bind address is added): a page of
#: another name that resolves to 127.0.0.1 (DNS rebinding) gets 403, not the pages and their forms.
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})


def host_allowed(host_name: str, options: Any, allowed_hosts: Iterable[str] = ()) -> bool:
    """Whether a request for ``host_name`` may be answered: always with a login; else only loopback names.

    Example::

        host_allowed("rebind.attacker.example", options)   # False when Flower runs without login
    """
    if options.basic_auth or options.auth:  # the browser sends no credentials to another origin's name
        return True
    address = str(options.address or "")
    extra = {address} if address not in ("", "0.0.0.0", "::") else set()
    return host_name.lower() in LOOPBACK_HOSTS | extra | {host.lower() for host in allowed_hosts}


def install(app: Any = None, allowed_hosts: Iterable[str] = ()) -> None:
    """Add the Schedule and Dead pages, queue-depth metrics and security headers to Flower (idempotent).

    ``app`` is the Celery app whose queues the metrics show (default: the current one, which
    ``celery -A app flower`` has configured by the time Flower reads its config file).
    ``allowed_hosts``: more host names a Flower without login answers to (``host_allowed``).
    """
    import prometheus_client
    from tornado.web import GZipContentEncoding

    from conveyor.jobs.app_lookup import current_app
    from conveyor.web.batch_views import BatchActionView, BatchesView, BatchView
    from conveyor.web.busy_views import BusyView, WorkerActionView
    from conveyor.web.metrics_views import MetricsView
    from conveyor.web.queue_views import QueueActionView, QueuesView
    from conveyor.web.views import DeadActionView, DeadView, ScheduleActionView, ScheduleView
    from conveyor.web.waiting_views import RetriesView, ScheduledView, WaitingActionView

    check_web()
    handlers, settings = flower_compat.url_table()
    flower_compat.check_navbar(Path(settings["template_path"]))
    flower_compat.check_xsrf(settings)
    not_found = flower_compat.not_found_handler()
    if any(getattr(handler, "name", None) == "schedule" for handler in handlers):
        return

    def handler_class(handler: Any) -> Any:
        return handler.handler_class if isinstance(handler, URLSpec) else handler[1]

    catch_all = next(i for i, handler in enumerate(handlers) if handler_class(handler) is not_found)
    handlers[catch_all:catch_all] = [
        tornado.web.url(r"/schedule", ScheduleView, name="schedule"),
        (r"/schedule/(?P<name>[^/]+)/(?P<action>enqueue|enable|disable)", ScheduleActionView),
        tornado.web.url(r"/dead", DeadView, name="dead"),
        (r"/dead/(?P<job_id>[^/]+)/(?P<action>retry|delete)", DeadActionView),
        tornado.web.url(r"/busy", BusyView, name="busy"),
        (r"/busy/worker/(?P<name>[^/]+)/(?P<action>quiet|stop)", WorkerActionView),
        tornado.web.url(r"/queues", QueuesView, name="queues"),
        (r"/queues/(?P<name>[^/]+)/(?P<action>pause|resume|clear)", QueueActionView),
        tornado.web.url(r"/job-metrics", MetricsView, name="job_metrics"),
        tornado.web.url(r"/scheduled", ScheduledView, name="scheduled"),
        tornado.web.url(r"/retries", RetriesView, name="retries"),
        (r"/waiting/(?P<page>scheduled|retries)/(?P<action>run|delete|kill)", WaitingActionView),
        tornado.web.url(r"/batches", BatchesView, name="batches"),
        tornado.web.url(r"/batches/(?P<batch_id>[0-9a-f-]+)", BatchView, name="batch"),
        (r"/batches/(?P<batch_id>[0-9a-f-]+)/(?P<action>retry-dead|cancel)", BatchActionView),
    ]
    settings["template_loader"] = _Loader([TEMPLATES, Path(settings["template_path"])])
    # tornado's Application takes ``transforms`` beside its settings; Flower passes the settings through.
    gzip = settings.get("compress_response") or settings.get("gzip")
    settings["transforms"] = [SecurityHeaders, *([GZipContentEncoding] if gzip else [])]
    hosts = tuple(allowed_hosts)

    def check_host(handler: Any) -> None:
        if not host_allowed(handler.request.host_name, handler.application.options, hosts):
            raise tornado.web.HTTPError(403, "Flower runs without login and answers only to its own host names")

    flower_compat.harden_basic_auth(check_host)
    collector = QueueDepthCollector(app or current_app())
    prometheus_client.REGISTRY.register(collector)
    collector.start()


class QueueDepthCollector:
    """Prometheus gauge ``conveyor_queue_depth{queue, priority}`` of ``app``'s queues.

    A scrape runs on Flower's event loop, so it does not query Redis: it reads the depths a
    background thread refreshes every ``interval`` seconds (``start``; only the very first scrape
    waits, at most ``first_wait`` seconds, for the first refresh). The app is the one Flower was
    started with, captured at install: Flower's threads have no current app of their own.
    """

    def __init__(self, app: Any, interval: float = 5.0, first_wait: float = 2.0) -> None:
        self.app, self.interval, self.first_wait = app, interval, first_wait
        self._depths: list[tuple[str, int, int]] = []
        self._refreshed = threading.Event()

    def start(self) -> None:
        threading.Thread(target=self._refresh_forever, name="conveyor-depths", daemon=True).start()

    def _refresh_forever(self) -> None:
        from conveyor.broker.views.queue_state import queue_depths

        while True:
            try:
                self._depths = queue_depths(self.app)
            except Exception as exc:  # Redis away: the last depths stay; say so once per refresh
                logger.warning("conveyor_queue_depth: cannot read queue lengths: %s", exc)
            self._refreshed.set()
            time.sleep(self.interval)

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import GaugeMetricFamily

        self._refreshed.wait(self.first_wait)
        gauge = GaugeMetricFamily("conveyor_queue_depth", "Jobs waiting in a queue", labels=["queue", "priority"])
        for queue, priority, depth in self._depths:
            gauge.add_metric([queue, str(priority)], depth)
        yield gauge

    def describe(self) -> list[Any]:
        return []  # collected lazily: registering must not touch Redis


class SecurityHeaders(tornado.web.OutputTransform):  # type: ignore[misc]
    """Every Flower response may not be framed (clickjacking of the action buttons) nor sniffed."""

    def transform_first_chunk(
        self, status_code: int, headers: Any, chunk: bytes, finishing: bool
    ) -> tuple[int, Any, bytes]:
        for name, value in _SECURITY_HEADERS.items():
            if name not in headers:
                headers[name] = value
        return status_code, headers, chunk


_SECURITY_HEADERS = {
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}
