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
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import tornado.web
from tornado.routing import URLSpec
from tornado.template import BaseLoader, Template

from conveyor.compat import check_web
from conveyor.compat import flower as flower_compat

__all__ = ["QueueDepthCollector", "install", "require_login"]

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
"""


def require_login(basic_auth: Iterable[str] | None, open_ok: bool = False) -> list[str]:
    """Return the basic-auth credentials, or exit explaining how to give some.

    ``open_ok`` (``FLOWER_UNAUTHENTICATED=1``) runs Flower without a login, on purpose.
    """
    credentials = [item for item in (basic_auth or []) if item]
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
                    source = flower_compat.splice_navbar(source, _NAV_ITEM) or source
                return Template(source, name=name, loader=self)
        raise FileNotFoundError(f"template {name!r} not found in {', '.join(map(str, self.roots))}")


def install() -> None:
    """Add the Schedule and Dead pages and queue-depth metrics to Flower (idempotent)."""
    import prometheus_client

    from conveyor.web.views import DeadActionView, DeadView, ScheduleActionView, ScheduleView

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
    ]
    settings["template_loader"] = _Loader([TEMPLATES, Path(settings["template_path"])])
    prometheus_client.REGISTRY.register(QueueDepthCollector())


class QueueDepthCollector:
    """Prometheus gauge ``conveyor_queue_depth{queue, priority}``, read from Redis at scrape time."""

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import GaugeMetricFamily

        from conveyor.broker.depths import queue_depths
        from conveyor.jobs.task import current_app

        gauge = GaugeMetricFamily("conveyor_queue_depth", "Jobs waiting in a queue", labels=["queue", "priority"])
        try:
            for queue, priority, depth in queue_depths(current_app()):
                gauge.add_metric([queue, str(priority)], depth)
        except Exception as exc:  # a scrape must not fail because Redis is away
            logger.warning("conveyor_queue_depth: cannot read queue lengths: %s", exc)
        yield gauge

    def describe(self) -> list[Any]:
        return []  # collected lazily: registering must not touch Redis
