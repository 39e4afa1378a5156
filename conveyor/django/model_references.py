"""Django model instances as job arguments, by reference (ActiveJob's GlobalID).

An instance passed to ``perform_later`` travels as ``[app label, model name, primary key,
database alias]`` and is loaded again in the worker, with the model's base manager on that
database, when the job runs. The model is found in Django's app registry (installed apps
only): a message naming any other model imports nothing and ends in the dead set. A row
deleted meanwhile raises ``RecordNotFound`` (a ``discard_on`` target). Integer, string and
UUID primary keys travel as conveyor sends those types. An unsaved instance cannot be sent:
the worker could not load it.

``conveyor.django``'s app config registers this when Django starts (worker and web alike).

Example::

    ReportGenerationJob.perform_later(report)       # the worker gets Report.objects.get(pk=report.pk)
"""

from __future__ import annotations

from typing import Any

from conveyor.compat.django import base_manager, database_of, is_unsaved, model_label
from conveyor.errors import DeserializationError, RecordNotFound
from conveyor.serialization import register_serializer

__all__ = ["TAG", "register_models"]

#: The serializer's name on the wire: keep it stable across deploys.
TAG = "django.model"


def serialize(instance: Any) -> list[Any]:
    """``[app label, model name, pk, alias]`` for a saved instance; ValueError naming the fix otherwise."""
    label, name = model_label(instance)
    if is_unsaved(instance) or instance.pk is None:
        raise ValueError(
            f"{type(instance).__qualname__} is not saved yet: save() it (and let its transaction commit) before "
            "enqueuing, so the worker can load it"
        )
    return [label, name, instance.pk, database_of(instance) or "default"]


def deserialize(reference: Any) -> Any:
    """The instance ``reference`` names, loaded now; RecordNotFound if its row is gone."""
    from django.apps import apps
    from django.db import connections

    if not (isinstance(reference, list) and len(reference) == 4 and all(isinstance(v, str) for v in reference[:2])):
        raise DeserializationError(f"{reference!r} is not a model reference [app label, model, pk, database]")
    label, name, pk, alias = reference
    try:
        model = apps.get_model(label, name)  # the app registry: installed apps only, nothing imported
    except LookupError:
        raise DeserializationError(
            f"{label}.{name} is not a model of an installed app in this worker (models are found in Django's app "
            "registry, never imported by the name a message gives)"
        ) from None
    if not isinstance(alias, str) or alias not in connections.databases:
        raise DeserializationError(f"{alias!r} is not a database in this worker's DATABASES setting")
    try:
        return base_manager(model).db_manager(alias).get(pk=pk)
    except model.DoesNotExist:
        raise RecordNotFound(f"{model.__qualname__} with primary key {pk!r} no longer exists") from None


def register_models() -> None:
    """Send every Django model instance by reference (called by ``conveyor.django``'s app config)."""
    from django.db import models

    register_serializer(models.Model, serialize=serialize, deserialize=deserialize, name=TAG)
