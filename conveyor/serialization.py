"""Job arguments to JSON and back, exactly.

JSON types pass through unchanged (so Flower and ``redis-cli`` show them as
they are). Other supported values become a small tagged object
``{"_cj": <tag>, "v": <value>}`` and come back as the same type:

===============  ==========================================================
tuple            ``{"_cj": "tuple", "v": [...]}``
set, frozenset   ``{"_cj": "set", "v": [...]}`` / ``"frozenset"`` (items in iteration order)
range            ``[start, stop, step]``
bytes            base64
datetime         ISO 8601 with its offset, plus the IANA zone name if any
date, time       ISO 8601 (a time keeps its zone the same way)
timedelta        ``[days, seconds, microseconds]``
Decimal, UUID    their ``str``
Enum member      its class (``module:Qualname``) and member name
registered type  the ``serialize`` result of its ``register_serializer``
===============  ==========================================================

A subclass of ``str`` without a registered serializer travels as a plain ``str`` (ActiveJob's
rule for String subclasses): the worker receives a ``str``. Anything else raises
``SerializationError`` at enqueue, naming the argument.
A dict must have ``str`` keys and may not use the reserved key ``"_cj"``.

Example::

    register_serializer(Money, serialize=lambda m: [str(m.amount), m.currency],
                        deserialize=lambda v: Money(Decimal(v[0]), v[1]))
"""

from __future__ import annotations

import base64
import datetime as dt
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import Enum
from typing import Any
from zoneinfo import ZoneInfo

from billiard.exceptions import Terminated
from celery.exceptions import WorkerShutdown, WorkerTerminate

from conveyor.errors import DeserializationError, SerializationError

__all__ = ["TAG", "deserialize", "deserialize_arguments", "register_serializer", "serialize", "serialize_arguments"]

TAG = "_cj"
_JSON_SCALARS = frozenset({str, int, float, bool, type(None)})
# Types sent as a tagged string, and back.
_AS_TEXT: dict[type, tuple[str, Callable[[Any], str]]] = {
    dt.date: ("date", dt.date.isoformat),
    Decimal: ("decimal", str),
    uuid.UUID: ("uuid", str),
    bytes: ("bytes", lambda value: base64.b64encode(value).decode("ascii")),
}
_FROM_TEXT: dict[str, Callable[[Any], Any]] = {
    "date": dt.date.fromisoformat,
    "decimal": Decimal,
    "uuid": uuid.UUID,
    "bytes": lambda raw: base64.b64decode(raw, validate=True),
}
_SUPPORTED = (
    "None, bool, int, float, str (and its subclasses, sent as str), list, tuple, set, frozenset, range, bytes, "
    "dict with str keys, datetime, date, time, timedelta, Decimal, UUID, Enum members and types given to "
    "conveyor.register_serializer"
)


@dataclass(frozen=True, slots=True)
class _Registered:
    tag: str
    serialize: Callable[[Any], Any]
    deserialize: Callable[[Any], Any]


_by_type: dict[type, _Registered] = {}
_by_tag: dict[str, _Registered] = {}
# Lookups by exact type, filled lazily from the MRO walk; None means "not serializable".
_resolved: dict[type, _Registered | None] = {}


def register_serializer(
    type_: type,
    *,
    serialize: Callable[[Any], Any],
    deserialize: Callable[[Any], Any],
    name: str | None = None,
) -> None:
    """Teach conveyor to send instances of ``type_`` (and its subclasses) as arguments.

    ``serialize(obj)`` returns any value conveyor can serialize; the worker
    passes that value, deserialized, to ``deserialize``. ``name`` is the tag on
    the wire (default ``module.Qualname``); keep it stable across deploys.
    The registration must also run in the worker (put it next to the type).

    Example::

        register_serializer(Money, serialize=lambda m: [str(m.amount), m.currency],
                            deserialize=lambda v: Money(Decimal(v[0]), v[1]))
    """
    if not isinstance(type_, type):
        raise TypeError(f"register_serializer expects a class, got {type_!r}")
    if not callable(serialize) or not callable(deserialize):
        raise TypeError("register_serializer needs callables for serialize= and deserialize=")
    tag = name or f"{type_.__module__}.{type_.__qualname__}"
    if tag in _BUILTIN_TAGS:
        raise ValueError(f"serializer name {tag!r} is reserved for a built-in type; choose another name")
    entry = _Registered(tag, serialize, deserialize)
    _by_type[type_] = entry
    _by_tag[tag] = entry
    _resolved.clear()


def _registered_for(cls: type) -> _Registered | None:
    if cls not in _resolved:
        _resolved[cls] = next((_by_type[base] for base in cls.__mro__ if base in _by_type), None)
    return _resolved[cls]


def _tagged(tag: str, value: Any) -> dict[str, Any]:
    return {TAG: tag, "v": value}


def _zone_name(tzinfo: dt.tzinfo | None) -> str | None:
    return tzinfo.key if isinstance(tzinfo, ZoneInfo) else None


def serialize(value: Any, path: str = "value") -> Any:
    """Return the JSON-ready form of ``value``; ``path`` names it in errors."""
    cls = type(value)
    if cls in _JSON_SCALARS:
        return value
    if cls is list:
        return [serialize(item, f"{path}[{i}]") for i, item in enumerate(value)]
    if cls is dict:
        return _serialize_dict(value, path)
    if cls is tuple or cls is set or cls is frozenset:  # a set's items in its iteration order
        return _tagged(cls.__name__, [serialize(item, f"{path}[{i}]") for i, item in enumerate(value)])
    return _serialize_tagged(value, cls, path)


def _serialize_dict(value: dict[Any, Any], path: str) -> dict[str, Any]:
    out = {}
    for key, item in value.items():
        if type(key) is not str:
            raise SerializationError(
                f"{path} has a key of type {type(key).__name__} ({key!r}); only str keys are supported"
            )
        if key == TAG:
            raise SerializationError(f"{path} uses the key {TAG!r}, which conveyor reserves for tagged values")
        out[key] = serialize(item, f"{path}[{key!r}]")
    return out


def _serialize_tagged(value: Any, cls: type, path: str) -> Any:
    """The values JSON has no type for: tagged (range, decimal, dates, registered types, enums), or refused."""
    if cls is range:
        return _tagged("range", [value.start, value.stop, value.step])
    as_text = _AS_TEXT.get(cls)
    if as_text is not None:
        return _tagged(as_text[0], as_text[1](value))
    if cls is dt.datetime:
        return {TAG: "datetime", "v": value.isoformat(), "tz": _zone_name(value.tzinfo)}
    if cls is dt.time:
        return {TAG: "time", "v": value.isoformat(), "tz": _zone_name(value.tzinfo)}
    if cls is dt.timedelta:
        return _tagged("timedelta", [value.days, value.seconds, value.microseconds])
    registered = _registered_for(cls)
    if registered is not None:
        try:
            payload = registered.serialize(value)
        except SerializationError:
            raise
        except Exception as exc:
            raise SerializationError(f"{path} ({cls.__qualname__}) cannot be sent: {exc}") from exc
        return _tagged(registered.tag, serialize(payload, f"{path} (as {registered.tag})"))
    if isinstance(value, Enum):
        return {TAG: "enum", "cls": f"{cls.__module__}:{cls.__qualname__}", "v": value.name}
    if isinstance(value, str):  # a str subclass nothing was registered for: its text (ActiveJob's rule)
        return str(value)
    raise SerializationError(
        f"{path} is a {cls.__module__}.{cls.__qualname__} ({_short_repr(value)}), which cannot be sent as a job "
        f"argument. Supported: {_SUPPORTED}. Pass an id instead, or register one with "
        f"conveyor.register_serializer({cls.__qualname__}, serialize=..., deserialize=...)."
    )


def _short_repr(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _loaded_enums() -> dict[str, type[Enum]]:
    """Every Enum class defined in this process, by "<module>:<qualname>" (Python keeps the subclass tree)."""
    found: dict[str, type[Enum]] = {}
    pending: list[type[Enum]] = list(Enum.__subclasses__())
    while pending:
        cls = pending.pop()
        found[f"{cls.__module__}:{cls.__qualname__}"] = cls
        pending.extend(cls.__subclasses__())
    return found


def _enum_class(path: Any) -> type[Enum]:
    # Found among the Enum classes this worker has defined; never imported by the name a message gives.
    cls = _loaded_enums().get(path) if isinstance(path, str) else None
    if cls is None:
        raise DeserializationError(
            f"no Enum {path!r} is defined in this worker: import its module in the worker (the job's module "
            "importing it is enough)"
        )
    return cls


def _with_zone(value: Any, zone: str | None) -> Any:
    return value.replace(tzinfo=ZoneInfo(zone)) if zone else value


def _decode_tagged(value: dict[str, Any]) -> Any:
    tag = value[TAG]
    raw: Any = value.get("v")
    collection, from_text = _COLLECTIONS.get(tag), _FROM_TEXT.get(tag)
    if collection is not None:
        return collection(deserialize(item) for item in raw)
    if from_text is not None:
        return from_text(raw)
    if tag == "range":
        return range(*raw[:3])
    if tag == "datetime":
        return _with_zone(dt.datetime.fromisoformat(raw), value.get("tz"))
    if tag == "time":
        return _with_zone(dt.time.fromisoformat(raw), value.get("tz"))
    if tag == "timedelta":
        days, seconds, microseconds = raw
        return dt.timedelta(days=days, seconds=seconds, microseconds=microseconds)
    if tag == "enum":
        return _enum_class(value.get("cls"))[raw]
    registered = _by_tag.get(tag)
    if registered is None:
        raise DeserializationError(
            f"no serializer named {tag!r} is registered in this process; import the module that calls "
            "conveyor.register_serializer for it in the worker too"
        )
    return registered.deserialize(deserialize(raw))


# A worker being stopped (warm or cold shutdown, a terminated pool child) stays stopped.
_SHUTDOWN: tuple[type[BaseException], ...] = (WorkerShutdown, WorkerTerminate, Terminated)

_COLLECTIONS: dict[str, Callable[[Any], Any]] = {"tuple": tuple, "set": set, "frozenset": frozenset}
_BUILTIN_TAGS = frozenset(
    {"tuple", "set", "frozenset", "range", "bytes", "datetime", "date", "time", "timedelta", "decimal", "uuid", "enum"}
)


def deserialize(value: Any) -> Any:
    """Rebuild a value produced by ``serialize``; raises ``DeserializationError``."""
    cls = type(value)
    if cls is list:
        return [deserialize(item) for item in value]
    if cls is dict:
        if TAG in value:
            try:
                return _decode_tagged(value)
            except DeserializationError:
                raise
            except _SHUTDOWN:
                raise
            except (Exception, SystemExit) as exc:  # a registered deserializer's SystemExit must not end the worker
                raise DeserializationError(f"cannot rebuild {value!r}: {type(exc).__name__}: {exc}") from exc
        return {key: deserialize(item) for key, item in value.items()}
    return value


def serialize_arguments(
    owner: str, names: Sequence[str], args: Sequence[Any], kwargs: dict[str, Any]
) -> tuple[list[Any], dict[str, Any]]:
    """Serialize a call's arguments; errors name ``owner`` and the parameter.

    ``names`` are the positional parameter names of ``perform`` (used only to
    make messages readable).
    """
    out_args = [
        arg
        if type(arg) in _JSON_SCALARS
        else _serialize_argument(owner, arg, f"argument {i + 1}" + (f" ({names[i]})" if i < len(names) else ""))
        for i, arg in enumerate(args)
    ]
    out_kwargs = {
        key: arg if type(arg) in _JSON_SCALARS else _serialize_argument(owner, arg, f"argument {key!r}")
        for key, arg in kwargs.items()
    }
    return out_args, out_kwargs


def _serialize_argument(owner: str, value: Any, path: str) -> Any:
    try:
        return serialize(value, path)
    except SerializationError as exc:
        raise SerializationError(f"{owner}: {exc}") from None


def deserialize_arguments(args: Sequence[Any], kwargs: dict[str, Any]) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """Rebuild positional and keyword arguments received from the broker."""
    return tuple(deserialize(arg) for arg in args), {key: deserialize(arg) for key, arg in kwargs.items()}
