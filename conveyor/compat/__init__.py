"""Guards for the private APIs of Celery, kombu, redbeat, Flower and tornado that conveyor uses.

conveyor subclasses kombu's Redis channel (the reliable fetch), registers tasks through
Celery's finalize hooks, writes redbeat's hash layout and splices pages into Flower. None
of that is public API: a minor release may rename a method, and an override of a method
that no longer exists is simply never called (the reliable fetch would turn off without an
error). So every private name conveyor overrides or reads is listed in one module per
dependency (``conveyor.compat.celery``, ``.kombu``, ``.redbeat``, ``.flower``, ``.tornado``),
and ``check_core()`` (run by ``conveyor.configure`` and at worker start) and
``check_web()`` (run when the Flower pages are installed) fail loudly, naming the
package, its version and the missing name.

Example::

    conveyor.compat.check_core()   # CompatibilityError: kombu 5.8.0 has no
                                   # kombu.transport.redis.Channel._brpop_start ...
"""

from __future__ import annotations

from conveyor.compat.guard import Guard, check, require_attributes

__all__ = ["Guard", "check", "check_core", "check_web", "require_attributes"]


def check_core() -> None:
    """Check Celery, kombu and redbeat (the Job API, the broker layer and the schedule)."""
    from conveyor.compat import celery, kombu, redbeat

    check(celery.GUARD, kombu.GUARD, redbeat.GUARD)


def check_web() -> None:
    """Check Flower and tornado (the web pages)."""
    from conveyor.compat import flower, tornado

    check(flower.GUARD, tornado.GUARD)
