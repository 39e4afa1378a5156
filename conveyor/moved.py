"""Module paths of conveyor 0.1, kept working after the move into packages (0.2).

Dotted paths are stored outside the code: ``beat_scheduler = "conveyor.beat:Scheduler"``
in a deployment's settings, ``queue_order_strategy = "conveyor.fetch:WeightedCycle"``,
``worker_consumer``, entry points of an installed 0.1 wheel, and imports in services
written against 0.1. Each old path resolves to its new module (the same module object,
so ``isinstance`` and registries agree), without a file per old name. Deprecated: new
code imports the new paths (see README "Architecture").

Example::

    import conveyor.beat          # is conveyor.schedule.beat
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import warnings
from collections.abc import Sequence
from types import ModuleType

__all__ = ["DROPPED_IN", "MOVED", "MOVED_IN_0_3", "SPLIT_IN_0_3", "install"]

#: Old module path → new module path.
MOVED: dict[str, str] = {
    "conveyor.adapters": "conveyor.jobs.adapters",
    "conveyor.beat": "conveyor.schedule.beat",
    "conveyor.callbacks": "conveyor.jobs.callbacks",
    "conveyor.config": "conveyor.bootstrap",
    "conveyor.consumer": "conveyor.broker.fetch.consumer",
    "conveyor.core": "conveyor.jobs.core",
    "conveyor.dead": "conveyor.broker.dead.dead_set",
    "conveyor.delivery": "conveyor.mail.delivery",
    "conveyor.enqueuing": "conveyor.jobs.enqueuing",
    "conveyor.eviction": "conveyor.broker.eviction",
    "conveyor.exceptions": "conveyor.jobs.error_handling",
    "conveyor.execution": "conveyor.jobs.execution",
    "conveyor.fetch": "conveyor.broker.fetch.queue_order",
    "conveyor.flower": "conveyor.web.flower",
    "conveyor.flower_views": "conveyor.web.views",
    "conveyor.global_id": "conveyor.sqlalchemy.model_references",
    "conveyor.job": "conveyor.jobs.job",
    "conveyor.logs": "conveyor.jobs.logs",
    "conveyor.mailer": "conveyor.mail.mailer",
    "conveyor.priority": "conveyor.jobs.priority",
    "conveyor.pytest_plugin": "conveyor.testing.pytest_plugin",
    "conveyor.queue_name": "conveyor.jobs.queue_name",
    "conveyor.scheduled": "conveyor.broker.scheduled.scheduled_set",
    "conveyor.task": "conveyor.jobs.task",
    "conveyor.transactions": "conveyor.sqlalchemy.transactions",
    "conveyor.transport": "conveyor.broker.fetch.reliable_fetch",
    "conveyor.worker_config": "conveyor.broker.worker_file",
    "conveyor.zoned_cron": "conveyor.schedule.zoned_cron",
}


#: Paths of conveyor 0.2 that moved in 0.3 (the broker grouped by what it does): they resolve with a
#: DeprecationWarning naming the new path, until conveyor 0.4 drops them.
MOVED_IN_0_3: dict[str, str] = {
    "conveyor.broker.acks": "conveyor.broker.fetch.acks",
    "conveyor.broker.busy": "conveyor.broker.views.busy",
    "conveyor.broker.channel_caches": "conveyor.broker.fetch.channel_caches",
    "conveyor.broker.claim": "conveyor.broker.fetch.claim",
    "conveyor.broker.consumer": "conveyor.broker.fetch.consumer",
    "conveyor.broker.dead_set": "conveyor.broker.dead.dead_set",
    "conveyor.broker.depths": "conveyor.broker.views.queue_state",
    "conveyor.broker.handoff": "conveyor.broker.fetch.handoff",
    "conveyor.broker.metrics": "conveyor.broker.views.metrics",
    "conveyor.broker.owners": "conveyor.broker.fetch.owners",
    "conveyor.broker.poison": "conveyor.broker.fetch.poison",
    "conveyor.broker.queue_order": "conveyor.broker.fetch.queue_order",
    "conveyor.broker.queue_state": "conveyor.broker.views.queue_state",
    "conveyor.broker.reliable_fetch": "conveyor.broker.fetch.reliable_fetch",
    "conveyor.broker.retry_plan": "conveyor.broker.dead.retry_plan",
    "conveyor.broker.scheduled_set": "conveyor.broker.scheduled.scheduled_set",
    "conveyor.broker.waiting": "conveyor.broker.scheduled.waiting",
    "conveyor.routing": "conveyor.validation",
}
#: 0.2's ``conveyor.wire`` held two things, now two modules: the old path is a module holding the
#: names of both (with the same DeprecationWarning).
SPLIT_IN_0_3: dict[str, tuple[str, ...]] = {"conveyor.wire": ("conveyor.keys", "conveyor.records")}
DROPPED_IN = "0.4"
MOVED.update(MOVED_IN_0_3)


class _Alias(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds an old path and hands back the new module itself."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in MOVED and fullname not in SPLIT_IN_0_3:
            return None
        return importlib.machinery.ModuleSpec(fullname, self)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        if spec.name in SPLIT_IN_0_3:
            return _joined(spec.name, SPLIT_IN_0_3[spec.name])
        if spec.name in MOVED_IN_0_3:
            warnings.warn(
                f"{spec.name} moved to {MOVED_IN_0_3[spec.name]}; the old path goes in conveyor {DROPPED_IN}",
                DeprecationWarning,
                stacklevel=2,
            )
        module = importlib.import_module(MOVED[spec.name])
        # The import system sets __spec__ of what this returns to the alias' spec; keep the
        # module's own to put back in exec_module.
        spec.loader_state = module.__spec__
        return module

    def exec_module(self, module: ModuleType) -> None:
        # Already executed; the import system files it under the old name too.
        alias = module.__spec__
        if alias is not None and alias.loader_state is not None:
            module.__spec__ = alias.loader_state


def _joined(name: str, parts: tuple[str, ...]) -> ModuleType:
    warnings.warn(
        f"{name} was split into {' and '.join(parts)}; the old path goes in conveyor {DROPPED_IN}",
        DeprecationWarning,
        stacklevel=3,
    )
    joined = ModuleType(name, f"Deprecated: the names of {', '.join(parts)}.")
    exported: list[str] = []
    for part in parts:
        module = importlib.import_module(part)
        for attribute in module.__all__:
            setattr(joined, attribute, getattr(module, attribute))
        exported += module.__all__
    joined.__all__ = exported  # type: ignore[attr-defined]
    return joined


def install() -> None:
    """Resolve the old paths in this process (done by ``import conveyor``)."""
    if not any(isinstance(finder, _Alias) for finder in sys.meta_path):
        sys.meta_path.append(_Alias())
