"""Every private name of a dependency conveyor reads or overrides is in a ``conveyor/compat`` guard.

A guard turns a dependency's rename into an error at start that names the version and the name
(``compat/test_guard``, ``compat/test_kombu``); a private name used outside a guard would instead
fail at run time, or, for an override, silently never be called. Read as httpx tests that every httpcore exception is
mapped: the code is parsed (ast) and each single-underscore name is accounted for, either as
conveyor's own (defined somewhere in ``conveyor/``) or as guarded.
"""

from __future__ import annotations

import ast
import importlib
import inspect
from pathlib import Path

import pytest
from kombu.transport import redis as kombu_redis

import conveyor
from conveyor.compat import celery, flower, kombu, redbeat, tornado
from conveyor.compat.guard import Guard
from conveyor.keys import PRIORITY_SEPARATOR
from conveyor.validation import RESERVED_PREFIXES

PACK = Path(conveyor.__file__).parent
DEPENDENCIES = ("celery", "kombu", "redbeat", "flower", "tornado")
#: The standard library's public names spelled with an underscore: named tuples' methods, and
#: ``sys._current_frames`` (documented; worker_thread names where a stuck worker is).
STDLIB_PUBLIC = {"_replace", "_asdict", "_fields", "_make", "_current_frames"}


def private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def guarded() -> set[str]:
    """Every attribute name some guard checks, and the instance attributes compat checks by hand."""
    names: set[str] = set()
    for guard in (celery.GUARD, kombu.GUARD, redbeat.GUARD, flower.GUARD, tornado.GUARD):
        assert isinstance(guard, Guard)
        for table in (guard.names, *guard.extra_modules.values()):
            for attributes in table.values():
                names.update(attributes)
        names.update(dotted.rpartition(".")[2] for dotted in guard.values)
    for path in (PACK / "compat").glob("*.py"):  # require_attributes(...) tuples and the like
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and private(node.value):
                names.add(node.value)
    return names


def sources() -> dict[Path, ast.Module]:
    return {path: ast.parse(path.read_text()) for path in PACK.rglob("*.py") if "compat" not in path.parts}


def own_names(trees: dict[Path, ast.Module], guarded_names: set[str]) -> set[str]:
    """The underscore names conveyor itself defines: functions, classes, assigned attributes and names, parameters.

    An assignment such as ``self._brpop_sent_at = ...`` writes a dependency's (guarded) attribute: not conveyor's own.
    """
    names: set[str] = set()
    for tree in [*trees.values(), *(ast.parse(path.read_text()) for path in (PACK / "compat").glob("*.py"))]:
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                names.add(node.name)
            elif isinstance(node, ast.arg):
                names.add(node.arg)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                names.add(node.id)
            elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
                if node.attr.startswith("_conveyor") or node.attr not in guarded_names:
                    names.add(node.attr)
            elif isinstance(node, ast.alias):
                names.add((node.asname or node.name).rpartition(".")[2])
    return names


def named_by_string(node: ast.AST) -> str | None:
    """The private name in ``getattr(x, "_n")``, ``hasattr(x, "_n")``, ``kwargs.get("_n")``, ``kwargs.pop("_n")``."""
    if not isinstance(node, ast.Call):
        return None
    argument = None
    if isinstance(node.func, ast.Name) and node.func.id in ("getattr", "hasattr", "setattr") and len(node.args) > 1:
        argument = node.args[1]
    elif isinstance(node.func, ast.Attribute) and node.func.attr in ("get", "pop") and node.args:
        argument = node.args[0]
    value = argument.value if isinstance(argument, ast.Constant) else None
    return value if isinstance(value, str) and private(value) else None


def test_every_private_name_read_on_something_not_conveyors_is_guarded() -> None:
    trees = sources()
    allowed = guarded()
    own = own_names(trees, allowed)
    unguarded = []
    for path, tree in trees.items():
        for node in ast.walk(tree):
            name = node.attr if isinstance(node, ast.Attribute) and private(node.attr) else named_by_string(node)
            if name and name not in own and name not in allowed and name not in STDLIB_PUBLIC:
                unguarded.append(f"{path.relative_to(PACK)}:{getattr(node, 'lineno', '?')} {name}")
    assert unguarded == [], "private names of a dependency used without a guard in conveyor/compat"


def class_tree(cls: type) -> ast.AST:
    """The class's source, parsed (an empty module for a class made at run time, which has none)."""
    try:
        return ast.parse(inspect.getsource(cls).lstrip())
    except (OSError, TypeError):
        return ast.Module(body=[], type_ignores=[])


def test_every_private_method_a_conveyor_class_overrides_on_a_dependency_class_is_guarded() -> None:
    allowed, missing = guarded(), []
    for path in PACK.rglob("*.py"):
        if "compat" in path.parts or path.name == "__main__.py":
            continue
        module_name = ".".join(path.relative_to(PACK.parent).with_suffix("").parts).removesuffix(".__init__")
        try:
            module = importlib.import_module(module_name)
        except ImportError:  # an optional extra's module without its extra: not in this install
            continue
        for cls in [value for value in vars(module).values() if inspect.isclass(value)]:
            if cls.__module__ != module_name:
                continue
            bases = [base for base in cls.__mro__[1:] if base.__module__.partition(".")[0] in DEPENDENCIES]
            if not bases:
                continue
            for name in vars(cls):
                if private(name) and any(name in vars(base) for base in bases) and name not in allowed:
                    missing.append(f"{module_name}.{cls.__qualname__}.{name} (overridden)")
            # self._x inside the class: a dependency's attribute unless a conveyor class of its MRO defines it
            ours = [klass for klass in cls.__mro__ if klass.__module__.startswith("conveyor.")]
            defined = {name for klass in ours for name in vars(klass)} | {
                node.attr
                for klass in ours
                for node in ast.walk(class_tree(klass))
                if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store)
            }
            for node in ast.walk(class_tree(cls)):
                if (
                    not (
                        isinstance(node, ast.Attribute)
                        and isinstance(node.value, ast.Name)
                        and node.value.id == "self"
                        and private(node.attr)
                    )
                    or node.attr in allowed
                ):
                    continue
                theirs = any(hasattr(base, node.attr) for base in bases)  # written or read: the dependency's
                if theirs or (isinstance(node.ctx, ast.Load) and node.attr not in defined):
                    missing.append(f"{module_name}.{cls.__qualname__}: self.{node.attr}")
    assert missing == []


def test_the_values_conveyor_repeats_are_the_ones_kombu_guards() -> None:
    assert kombu.CHANNEL_VALUES["Channel.sep"] == PRIORITY_SEPARATOR
    assert kombu.CHANNEL_VALUES["Channel.keyprefix_queue"].partition(".")[0] in RESERVED_PREFIXES
    assert kombu.CHANNEL_VALUES["Channel.unacked_key"] in RESERVED_PREFIXES
    assert kombu.GUARD.missing() == []


def test_a_changed_value_is_reported_like_a_missing_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kombu_redis.Channel, "sep", "\x06\x17")
    assert kombu.GUARD.missing() == ["kombu.transport.redis.Channel.sep == '\\x06\\x16' (it is '\\x06\\x17')"]


def test_kombus_publish_batch_still_passes_itself_under_the_keyword_conveyor_reads() -> None:
    assert f"{kombu.PUBLISH_BATCH_KEYWORD}=self" in inspect.getsource(kombu_redis.PublishBatch.publish)
