"""One dependency's private names, and the check that they are all still there.

Example::

    GUARD = Guard("kombu", "kombu.transport.redis", {"Channel": ("_brpop_start", "_brpop_read")})
    check(GUARD)   # CompatibilityError naming kombu's version and Channel._brpop_start if it is gone
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata

from conveyor.errors import CompatibilityError

__all__ = ["Guard", "check", "require_attributes"]


@dataclass(frozen=True)
class Guard:
    """``names`` maps an object in ``module`` ("" for the module itself) to attributes it must have.

    ``tested`` is the version range the suite runs against (``make test-deps``), shown in the
    error so the reader knows which versions work.
    """

    distribution: str
    module: str
    names: Mapping[str, Sequence[str]]
    tested: str = ""
    extra_modules: Mapping[str, Mapping[str, Sequence[str]]] = field(default_factory=dict)
    #: Values conveyor relies on, by dotted name in ``module`` (``"Channel.sep": "\x06\x16"``): a
    #: dependency that changed one is caught like a missing name.
    values: Mapping[str, object] = field(default_factory=dict)

    def missing(self) -> list[str]:
        """Dotted names this install lacks (empty when all are there)."""
        gone: list[str] = []
        for module_name, names in {self.module: self.names, **self.extra_modules}.items():
            try:
                module = importlib.import_module(module_name)
            except ImportError:
                gone.append(module_name)
                continue
            for owner_name, attributes in names.items():
                owner: object = module
                for part in filter(None, owner_name.split(".")):
                    owner = getattr(owner, part, _MISSING)
                if owner is _MISSING:
                    gone.append(f"{module_name}.{owner_name}")
                    continue
                prefix = f"{module_name}.{owner_name}." if owner_name else f"{module_name}."
                gone += [prefix + name for name in attributes if not hasattr(owner, name)]
        gone += self._changed_values()
        return gone

    def _changed_values(self) -> list[str]:
        if not self.values:
            return []
        module = importlib.import_module(self.module)
        changed = []
        for dotted, expected in self.values.items():
            value: object = module
            for part in dotted.split("."):
                value = getattr(value, part, _MISSING)
            if value != expected:
                shown = "nothing" if value is _MISSING else repr(value)
                changed.append(f"{self.module}.{dotted} == {expected!r} (it is {shown})")
        return changed

    def version(self) -> str:
        try:
            return metadata.version(self.distribution)
        except metadata.PackageNotFoundError:
            return "(version unknown)"


_MISSING = object()


def check(*guards: Guard) -> None:
    """Raise ``CompatibilityError`` listing every guarded name that is missing."""
    problems = []
    for guard in guards:
        gone = guard.missing()
        if gone:
            tested = f" (conveyor is tested with {guard.distribution} {guard.tested})" if guard.tested else ""
            problems.append(f"{guard.distribution} {guard.version()} has no {', '.join(gone)}{tested}")
    if problems:
        raise CompatibilityError(
            "conveyor relies on private names that this install lacks: "
            + "; ".join(problems)
            + ". Install a version conveyor supports (see its pyproject.toml) or upgrade conveyor."
        )


def require_attributes(obj: object, names: Sequence[str], distribution: str) -> None:
    """Check attributes an instance gets in its ``__init__`` (a class-level guard cannot see them).

    Example::

        require_attributes(channel, ("_queue_cycle",), "kombu")
    """
    gone = [name for name in names if not hasattr(obj, name)]
    if gone:
        guard = Guard(distribution, "", {})
        owner = f"{type(obj).__module__}.{type(obj).__qualname__}"
        raise CompatibilityError(
            f"conveyor relies on private names that this install lacks: {distribution} {guard.version()} "
            f"gives {owner} no {', '.join(gone)}. Install a version conveyor supports (see its pyproject.toml) "
            "or upgrade conveyor."
        )
