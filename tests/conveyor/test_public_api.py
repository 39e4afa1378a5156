"""What users import keeps working: ``__all__``, the 0.1 module paths and the names stored outside the code."""

from __future__ import annotations

import importlib
import pkgutil
import re
import sys

import pytest
from celery.utils.imports import symbol_by_name

import conveyor
from conveyor.moved import MOVED, MOVED_IN_0_3


def test_star_import_gives_exactly_all_and_every_name_exists() -> None:
    namespace: dict[str, object] = {}
    exec("from conveyor import *", namespace)
    assert sorted(set(namespace) - {"__builtins__"}) == sorted(conveyor.__all__)
    assert len(conveyor.__all__) == len(set(conveyor.__all__))


def all_modules() -> list[str]:
    return sorted(info.name for info in pkgutil.walk_packages(conveyor.__path__, "conveyor."))


@pytest.mark.parametrize("name", all_modules())
def test_every_module_declares_all_with_names_it_has(name: str) -> None:
    module = importlib.import_module(name)
    if name.endswith("__main__"):
        return
    declared = getattr(module, "__all__", None)
    assert declared is not None, f"{name} has no __all__"
    assert [item for item in declared if not hasattr(module, item)] == []


@pytest.mark.parametrize(("old", "new"), sorted(set(MOVED.items()) - set(MOVED_IN_0_3.items())))
def test_a_module_path_of_0_1_is_the_moved_module_itself(old: str, new: str) -> None:
    assert importlib.import_module(old) is importlib.import_module(new)
    assert importlib.import_module(new).__spec__.name == new  # the alias does not rename it


@pytest.mark.parametrize(("old", "new"), sorted(MOVED_IN_0_3.items()))
def test_a_path_of_0_2_still_imports_with_a_warning_naming_the_new_path(old: str, new: str) -> None:
    sys.modules.pop(old, None)
    with pytest.warns(DeprecationWarning, match=rf"{re.escape(old)} moved to {re.escape(new)}; .* conveyor 0\.4"):
        moved = importlib.import_module(old)
    assert moved is importlib.import_module(new)
    assert moved.__spec__.name == new


def test_the_split_wire_module_of_0_2_still_gives_every_name_with_a_warning_naming_both() -> None:
    from conveyor import keys, records

    sys.modules.pop("conveyor.wire", None)
    with pytest.warns(DeprecationWarning, match=r"conveyor\.wire was split into conveyor\.keys and conveyor\.records"):
        wire = importlib.import_module("conveyor.wire")
    assert sorted(wire.__all__) == sorted([*keys.__all__, *records.__all__])
    assert wire.dead_record is records.dead_record
    assert wire.WAKE_PREFIX == keys.WAKE_PREFIX == "conveyor:wake:"
    assert set(keys.__all__).isdisjoint(records.__all__)


@pytest.mark.parametrize(
    ("stored", "target"),
    [
        ("conveyor.beat:Scheduler", "conveyor.schedule.beat:Scheduler"),  # beat_scheduler of 0.1 settings
        ("conveyor.fetch:WeightedCycle", "conveyor.broker.fetch.queue_order:WeightedCycle"),  # queue_order_strategy
        ("conveyor.consumer:Consumer", "conveyor.broker.fetch.consumer:Consumer"),  # worker_consumer
        ("conveyor.transport:Transport", "conveyor.broker.fetch.reliable_fetch:Transport"),  # kombu transport alias
        ("conveyor.cli:jobs", "conveyor.cli.jobs_group:jobs"),  # celery.commands entry points of a 0.1 wheel
        ("conveyor.cli:schedule", "conveyor.cli.schedule_group:schedule"),
        ("conveyor.pytest_plugin", "conveyor.testing.pytest_plugin"),  # pytest11 entry point of a 0.1 wheel
    ],
)
def test_dotted_paths_stored_by_0_1_deployments_still_resolve(stored: str, target: str) -> None:
    assert symbol_by_name(stored) is symbol_by_name(target)


def test_names_written_into_messages_and_redis_did_not_move() -> None:
    from conveyor.jobs.app_lookup import task_name
    from conveyor.mail.mailer import MailDeliveryJob
    from conveyor.schedule import beat

    assert task_name(MailDeliveryJob) == "conveyor.mailer.MailDeliveryJob"  # queued and scheduled mails
    assert beat._ZONED == "conveyor.zoned_cron"  # the tag of zoned cron entries stored in redbeat


def test_a_pinned_task_name_is_not_inherited() -> None:
    from conveyor.jobs.app_lookup import task_name
    from conveyor.mail.mailer import MailDeliveryJob

    class AuditedDeliveryJob(MailDeliveryJob):
        pass

    assert task_name(AuditedDeliveryJob) == f"{__name__}.AuditedDeliveryJob"
