"""Django system checks for conveyor (``manage.py check``, and before ``runserver`` and ``migrate``).

- ``conveyor.E001``: the Celery app has no Redis broker (``CELERY_BROKER_URL``): jobs could not be sent.
- ``conveyor.E002``: Django 5.2 with conveyor's ``django.tasks`` backend but without ``"django_tasks"``
  in ``INSTALLED_APPS`` (the backport's own checks and signals need it).
- ``conveyor.W001``: a ``QUEUES`` name of conveyor's ``django.tasks`` backend that the worker
  configuration does not consume: its tasks would wait unseen.

Example::

    python manage.py check          # conveyor.E001: CELERY_BROKER_URL is not a Redis URL …
"""

from __future__ import annotations

from typing import Any

__all__ = ["BACKEND", "check_conveyor", "register"]

#: The ``TASKS`` backend path of conveyor's ``django.tasks`` backend.
BACKEND = "conveyor.django.backend.ConveyorBackend"


def register() -> None:
    """Add conveyor's checks to Django's registry (``conveyor.django``'s app config calls it)."""
    from django.core import checks

    checks.register(check_conveyor, "conveyor")


def check_conveyor(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    """Every problem conveyor can see in the project's settings."""
    import django
    from django.conf import settings
    from django.core.checks import Error, Warning

    from conveyor.defaults import is_redis_url
    from conveyor.jobs.app_lookup import current_app
    from conveyor.settings import Settings

    problems: list[Any] = []
    app = current_app()
    broker = str(app.conf.broker_url or "")
    if not (is_redis_url(broker) or broker.startswith(("sentinel://", "redis+sentinel://"))):
        problems.append(
            Error(
                f"the Celery app {app.main!r} has no Redis broker ({broker or 'none set'})",
                hint="set CELERY_BROKER_URL = 'redis://127.0.0.1:6379/0' (conveyor runs on Redis), and make the "
                "project's celery.py call conveyor.django.configure(app)",
                id="conveyor.E001",
            )
        )
    configured = getattr(settings, "TASKS", {})
    tasks = {alias: options for alias, options in configured.items() if options.get("BACKEND") == BACKEND}
    if tasks and django.VERSION < (6, 0) and "django_tasks" not in settings.INSTALLED_APPS:
        problems.append(
            Error(
                "conveyor's django.tasks backend on Django 5.2 needs the django_tasks backport installed as an app",
                hint='add "django_tasks" to INSTALLED_APPS',
                id="conveyor.E002",
            )
        )
    known = Settings.from_app(app).known_queues
    for alias, options in tasks.items():
        unseen = sorted(set(options.get("QUEUES") or ["default"]) - set(known or ()))
        if known is not None and unseen:
            problems.append(
                Warning(
                    f"TASKS[{alias!r}] QUEUES {', '.join(unseen)}: no queue the worker consumes has that name",
                    hint=f"add them to the worker's queues ({', '.join(sorted(known))}) or remove them from QUEUES",
                    id="conveyor.W001",
                )
            )
    return problems
