"""The app config of ``conveyor.django``: what Django starts once its app registry is ready.

- every Django model instance travels by reference (``conveyor.django.model_references``);
- jobs enqueued inside ``transaction.atomic()`` wait for the commit (``conveyor.django.transactions``);
- each ``async def perform`` uses Django's async ORM in a thread of its own, its connections closed
  after it (``conveyor.django.async_orm``);
- each installed app's ``jobs`` and ``tasks`` modules are imported (conveyor's jobs; Django's
  ``@task`` functions, and Celery's own tasks), so a worker (and ``celery -A proj jobs …``) knows
  every job, and the ``django.tasks`` backend its functions. A module that fails to import stops
  Django's start with ``ImproperlyConfigured`` naming it: a worker must never run without some
  of its jobs;
- Django system checks (``conveyor.django.checks``).

Example::

    INSTALLED_APPS = [..., "conveyor.django"]
"""

from __future__ import annotations

from django.apps import AppConfig
from django.core.exceptions import ImproperlyConfigured

from conveyor.django.checks import BACKEND

__all__ = ["JOB_MODULES", "ConveyorConfig"]

#: The modules of each installed app that hold its jobs and ``@task`` functions.
JOB_MODULES = ("jobs", "tasks")


class ConveyorConfig(AppConfig):  # type: ignore[misc]
    name = "conveyor.django"
    label = "conveyor_django"
    verbose_name = "Conveyor"

    def ready(self) -> None:
        from django.apps import apps
        from django.utils.module_loading import module_has_submodule

        from conveyor.compat.django import GUARD
        from conveyor.compat.guard import check
        from conveyor.django import async_orm, checks, model_references, transactions

        check(GUARD)
        model_references.register_models()
        transactions.enable()
        async_orm.enable()  # each async job's ORM calls in a thread of its own, connections closed after
        checks.register()
        from django.conf import settings

        if any(options.get("BACKEND") == BACKEND for options in getattr(settings, "TASKS", {}).values()):
            import conveyor.django.backend  # noqa: F401  # its job class, registered before a message arrives
        modules = [
            f"{config.name}.{name}"
            for config in apps.get_app_configs()
            for name in JOB_MODULES
            if config.module is not None and module_has_submodule(config.module, name)
        ]
        for module in modules:
            try:
                __import__(module)
            except Exception as exc:
                raise ImproperlyConfigured(
                    f"conveyor: {module} failed to import ({type(exc).__name__}: {exc}); fix it: a worker must not "
                    "run without its jobs"
                ) from exc
