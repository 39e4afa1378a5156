"""Model instances as job arguments, by reference (ActiveJob's GlobalID), for SQLAlchemy models.

After ``register_models(Base, Session)``, an instance of any mapped subclass of
``Base`` passed to ``perform_later`` travels as ``[<module>:<Class>, <primary
key>]`` and is loaded again, with a session from ``Session``, when the job runs.
A row deleted meanwhile raises ``RecordNotFound``, which ``discard_on`` can target.
An instance without a primary key yet (not flushed) cannot be sent.

Example::

    register_models(Base, Session)
    ReportGenerationJob.perform_later(report)       # the worker gets a freshly loaded Report
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import inspect as sqlalchemy_inspect
from sqlalchemy.orm import Session

from conveyor.errors import DeserializationError, RecordNotFound
from conveyor.serialization import register_serializer

__all__ = ["register_models"]


def _mapped_classes(base: type) -> dict[str, type]:
    """The classes mapped on ``base`` in this process, by "<module>:<qualname>" (SQLAlchemy's registry)."""
    registry = getattr(base, "registry", None)
    classes: list[type] = []
    if registry is not None:
        classes = [mapper.class_ for mapper in registry.mappers]
    else:  # a base without a registry of its own: its subclasses as Python knows them
        pending: list[type] = list(base.__subclasses__())
        while pending:
            cls = pending.pop()
            classes.append(cls)
            pending.extend(cls.__subclasses__())
    return {f"{cls.__module__}:{cls.__qualname__}": cls for cls in classes if issubclass(cls, base)}


def register_models(base: type, session_factory: Callable[[], Session]) -> None:
    """Send instances of ``base``'s mapped subclasses by reference; load them with ``session_factory``."""

    def serialize(instance: Any) -> list[Any]:
        identity = sqlalchemy_inspect(instance).identity
        cls = type(instance)
        if identity is None:
            raise ValueError(
                f"{cls.__qualname__} has no primary key yet: add it to a session and flush or commit before "
                "enqueuing, so the worker can load it"
            )
        return [f"{cls.__module__}:{cls.__qualname__}", list(identity)]

    def deserialize(reference: list[Any]) -> Any:
        path, key = reference
        cls = _mapped_classes(base).get(path) if isinstance(path, str) else None
        if cls is None:
            raise DeserializationError(
                f"{path!r} is not a model of {base.__qualname__} defined in this worker (models are found in "
                "the base's mapper registry, never imported by the name a message gives)"
            )
        with session_factory() as session:
            instance = session.get(cls, tuple(key))
            if instance is None:
                raise RecordNotFound(f"{cls.__qualname__} with primary key {key!r} no longer exists")
            session.expunge(instance)  # usable after the session closes (loaded columns)
        return instance

    register_serializer(
        base, serialize=serialize, deserialize=deserialize, name=f"model:{base.__module__}.{base.__qualname__}"
    )
