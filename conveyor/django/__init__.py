"""conveyor in a Django project (``conveyor[django]``): add ``"conveyor.django"`` to ``INSTALLED_APPS``.

Its app config (``conveyor.django.apps``) makes model instances travel as references
(``model_references``), holds jobs enqueued inside ``transaction.atomic()`` until the commit
(``transactions``), imports each installed app's ``jobs`` module, and adds Django system
checks (``checks``). ``conveyor.django.backend.ConveyorBackend`` runs ``django.tasks``
(``django_tasks`` on Django 5.2) ``@task`` functions on conveyor's workers.

Example::

    INSTALLED_APPS = [..., "conveyor.django"]
"""

from conveyor.extras import require_extra

require_extra("django", "django")

from conveyor.django.celery_app import configure  # noqa: E402  # after the extra's check

__all__ = ["configure"]
