"""Flower's names conveyor uses to add its pages: the URL table, settings and base handler.

``conveyor.web.flower.install`` inserts routes into ``flower.urls.handlers`` before
Flower's catch-all ``NotFoundErrorHandler``, swaps ``urls.settings["template_loader"]`` and
splices two links into ``navbar.html`` before ``NAV_MARKER``;
``conveyor.web.views`` subclasses ``flower.views.BaseHandler``.

Example::

    handlers, settings = url_table()
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from conveyor.compat.guard import Guard
from conveyor.errors import CompatibilityError

__all__ = ["GUARD", "NAV_MARKER", "check_navbar", "not_found_handler", "url_table"]

#: The end of the primary navigation list in Flower's ``navbar.html`` (Flower 2.0-2.2): conveyor's
#: Schedule and Dead links are spliced in before it, whitespace-exact.
NAV_MARKER = "      </ul>"

GUARD = Guard(
    "flower",
    "flower.urls",
    {"": ("handlers", "settings")},
    tested=">=2.0,<2.3",
    extra_modules={
        "flower.views": {"BaseHandler": ("get_current_user", "render")},
        "flower.views.error": {"": ("NotFoundErrorHandler",)},
    },
)


def check_navbar(template_path: Path) -> None:
    """Fail if Flower's navbar no longer has the line conveyor's links are spliced in before."""
    navbar = template_path / "navbar.html"
    source = navbar.read_text(encoding="utf-8") if navbar.is_file() else ""
    if NAV_MARKER not in source:
        raise CompatibilityError(
            f"flower {GUARD.version()}: {navbar} has no line {NAV_MARKER.strip()!r} indented as in Flower 2.0-2.2, "
            "so conveyor cannot add its Schedule and Dead links. Install a Flower conveyor supports."
        )


def url_table() -> tuple[list[Any], dict[str, Any]]:
    """Flower's route list and application settings (both changed in place)."""
    from flower import urls

    return urls.handlers, urls.settings


def not_found_handler() -> type:
    from flower.views.error import NotFoundErrorHandler

    return NotFoundErrorHandler  # type: ignore[no-any-return]
