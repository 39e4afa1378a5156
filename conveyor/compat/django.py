"""Django's underscore names conveyor uses: a model's options and state, and a TestCase's atomic blocks.

``_meta`` is Django's documented Model _meta API (app label, model name, base manager);
``_state`` holds the database an instance was loaded from and whether it is saved; an
``Atomic`` made by ``TestCase`` is marked ``_from_testcase`` (Django's own ``on_commit`` reads
it). Django is optional (``conveyor[django]``): this module imports it only when called.

Example::

    reference = (label_of(instance), database_of(instance))
"""

from __future__ import annotations

from typing import Any

from conveyor.compat.guard import Guard, require_attributes

__all__ = ["GUARD", "atomic_from_testcase", "base_manager", "database_of", "is_unsaved", "model_label"]

GUARD = Guard(
    "django",
    "django.db.models.base",
    {"ModelState": ("db", "adding")},
    tested=">=5.2,<6.2",
    extra_modules={
        "django.db.models.options": {"Options": ("base_manager", "label_lower")},
        "django.db.transaction": {"": ("Atomic", "get_connection", "on_commit")},
    },
)

#: Set in ``Atomic.__init__`` and ``Model.__init__``, so checked on the objects themselves.
ATOMIC_ATTRIBUTES = ("_from_testcase",)
MODEL_ATTRIBUTES = ("_state", "_meta")


def model_label(model: Any) -> tuple[str, str]:
    """(app label, model name) of a model class or instance, as Django's app registry knows it."""
    return str(model._meta.app_label), str(model._meta.model_name)


def base_manager(model: type) -> Any:
    """The model's base manager: it sees every row (a default manager may filter some out)."""
    return model._meta.base_manager  # type: ignore[attr-defined]


def database_of(instance: Any) -> str | None:
    """The database alias an instance was loaded from or saved to (None: not yet)."""
    require_attributes(instance, MODEL_ATTRIBUTES, "django")
    return instance._state.db  # type: ignore[no-any-return]


def is_unsaved(instance: Any) -> bool:
    """True for an instance never saved (Django's own ``_state.adding``)."""
    return bool(instance._state.adding)


def atomic_from_testcase(atomic: Any) -> bool:
    """True for an atomic block opened by Django's ``TestCase`` around a test (it never commits)."""
    require_attributes(atomic, ATOMIC_ATTRIBUTES, "django")
    return bool(atomic._from_testcase)
