"""tornado's names conveyor uses: the template loader hook that adds conveyor's navbar links.

``conveyor.web.flower._Loader`` overrides ``BaseLoader._create_template`` to serve
conveyor's templates first and splice two links into Flower's ``navbar.html`` (the splice
point is checked by ``conveyor.compat.flower.check_navbar``).

Example::

    check(GUARD)
"""

from __future__ import annotations

from conveyor.compat.guard import Guard

__all__ = ["GUARD"]

GUARD = Guard(
    "tornado",
    "tornado.template",
    {"BaseLoader": ("_create_template", "load", "resolve_path"), "": ("Template",)},
    tested=">=6.5.7,<7",
)
