"""A Django project's Celery app, configured from Django's settings and by conveyor in one call.

Celery's Django guide reads settings with ``app.config_from_object("django.conf:settings",
namespace="CELERY")``. Calling ``conveyor.configure(app)`` after that would put conveyor's
defaults over the project's own ``CELERY_*`` settings (both write the same keys). Here the
``CELERY_*`` settings are passed to ``conveyor.configure`` as overrides: a setting the project
writes wins, conveyor's defaults fill the rest, and what conveyor derives from the broker URL
(redbeat's URL, Sentinel's options) is derived from the project's. ``CELERY_CONVEYOR_*``
settings are conveyor's (``CELERY_CONVEYOR_STORE_RESULTS = True`` is ``conveyor_store_results``).

Example (``proj/celery.py``)::

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "proj.settings")
    app = Celery("proj")
    conveyor.django.configure(app)
"""

from __future__ import annotations

from typing import Any

from celery import Celery

import conveyor

__all__ = ["configure", "settings_for_celery"]


def settings_for_celery(namespace: str = "CELERY") -> dict[str, Any]:
    """The Django settings named ``<namespace>_*``, as Celery's lower-case setting names."""
    from django.conf import settings

    prefix = f"{namespace}_"
    return {name[len(prefix) :].lower(): getattr(settings, name) for name in dir(settings) if name.startswith(prefix)}


def configure(app: Celery, namespace: str = "CELERY", **overrides: Any) -> Celery:
    """``config_from_object`` as Celery's Django guide does, then ``conveyor.configure`` with those settings."""
    app.config_from_object("django.conf:settings", namespace=namespace)
    return conveyor.configure(app, **{**settings_for_celery(namespace), **overrides})
