"""Flower's names conveyor uses to add its pages: the URL table, settings and base handler.

``conveyor.web.flower.install`` inserts routes into ``flower.urls.handlers`` before
Flower's catch-all ``NotFoundErrorHandler``, swaps ``urls.settings["template_loader"]`` and
splices two links into ``navbar.html`` before ``NAV_END``;
``conveyor.web.views`` subclasses ``flower.views.BaseHandler``; the Busy page reads the
workers Flower knows from their events (``application.events.state.workers``).

Example::

    handlers, settings = url_table()
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from conveyor.compat.guard import Guard
from conveyor.errors import CompatibilityError

__all__ = [
    "GUARD",
    "NAV_END",
    "check_navbar",
    "check_xsrf",
    "harden_basic_auth",
    "known_tasks",
    "known_workers",
    "not_found_handler",
    "splice_navbar",
    "url_table",
]

#: The end of the primary navigation list in Flower's ``navbar.html``: the first line that is only
#: ``</ul>`` (indented 4 spaces in Flower 2.0, 6 in 2.2). conveyor's links go in before it.
NAV_END = re.compile(r"^[ \t]*</ul>[ \t]*$", re.MULTILINE)

GUARD = Guard(
    "flower",
    "flower.urls",
    {"": ("handlers", "settings")},
    tested=">=2.2,<2.3",
    extra_modules={
        # BaseHandler.check_xsrf_cookie: Flower's same-origin checks, which conveyor's action views extend.
        "flower.views": {"BaseHandler": ("get_current_user", "render", "check_xsrf_cookie")},
        "flower.views.error": {"": ("NotFoundErrorHandler",)},
    },
)


def splice_navbar(source: str, items: str) -> str | None:
    """``source`` with ``items`` inserted before the end of its first list; None if it has none."""
    end = NAV_END.search(source)
    return None if end is None else source[: end.start()] + items + source[end.start() :]


def check_navbar(template_path: Path) -> None:
    """Fail if Flower's navbar no longer has the list conveyor's links are spliced into."""
    navbar = template_path / "navbar.html"
    source = navbar.read_text(encoding="utf-8") if navbar.is_file() else ""
    if NAV_END.search(source) is None:
        raise CompatibilityError(
            f"flower {GUARD.version()}: {navbar} has no line that closes a list (</ul>), as Flower 2.2's has, "
            "so conveyor cannot add its Schedule and Dead links. Install a Flower conveyor supports."
        )


def check_xsrf(settings: dict[str, Any]) -> None:
    """Fail on a Flower that does not make tornado check XSRF tokens (Flower 2.2 sets ``xsrf_cookies``).

    conveyor's action views (retry, delete, enqueue) are POST forms; without the setting tornado
    never calls their token check, and any site a logged-in operator visits could post them.
    """
    if settings.get("xsrf_cookies") is not True:
        raise CompatibilityError(
            f"flower {GUARD.version()} does not enable tornado's xsrf_cookies (Flower 2.2 does): conveyor's "
            "pages would accept cross-site form posts. Install a Flower conveyor supports."
        )


def harden_basic_auth(check: Callable[[Any], None] | None = None) -> None:
    """Make Flower answer 401, not 500, to credentials it cannot compare (non-ASCII text).

    Flower compares the header's credentials with ``hmac.compare_digest`` on ``str``, which
    raises TypeError for non-ASCII text: a 500 for any request with such a header. ``check``
    (given the handler) runs first on every request that needs a login, Flower's pages and API
    included: it may refuse one (``conveyor.web.flower``'s Host allow-list).
    """
    import tornado.web
    from flower.views import BaseHandler

    original = BaseHandler.get_current_user
    if getattr(original, "_conveyor_hardened", False):
        return

    def get_current_user(self: Any) -> Any:
        if check is not None:
            check(self)
        try:
            return original(self)
        except TypeError as exc:
            raise tornado.web.HTTPError(401) from exc

    get_current_user._conveyor_hardened = True  # type: ignore[attr-defined]
    BaseHandler.get_current_user = get_current_user


def url_table() -> tuple[list[Any], dict[str, Any]]:
    """Flower's route list and application settings (both changed in place)."""
    from flower import urls

    return urls.handlers, urls.settings


def not_found_handler() -> type:
    from flower.views.error import NotFoundErrorHandler

    return NotFoundErrorHandler  # type: ignore[no-any-return]


def known_workers(application: Any) -> Mapping[str, Any]:
    """The Celery workers Flower has heard from (node name -> Celery's ``Worker`` state), from its events."""
    events = getattr(application, "events", None)
    state = getattr(events, "state", None)
    workers = getattr(state, "workers", None)  # Celery's State keeps them in an LRUCache, a Mapping
    if not isinstance(workers, Mapping):
        raise CompatibilityError("flower: Flower.events.state.workers is gone; conveyor's Busy page reads it")
    return workers


def known_tasks(application: Any) -> Mapping[str, Any]:
    """The tasks Flower has heard of (task id -> Celery's ``Task`` state): its task page knows only these."""
    events = getattr(application, "events", None)
    tasks = getattr(getattr(events, "state", None), "tasks", None)
    if not isinstance(tasks, Mapping):
        raise CompatibilityError("flower: Flower.events.state.tasks is gone; conveyor's Scheduled page reads it")
    return tasks
