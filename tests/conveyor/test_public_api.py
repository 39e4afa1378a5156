"""What users import keeps working: ``__all__`` and the names stored outside the code (old paths: ``test_moved``)."""

from __future__ import annotations

import importlib
import pkgutil

import pytest
from celery.utils.imports import symbol_by_name

import conveyor


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
    # A path without ":" names a module (a pytest11 entry point is imported as one), whatever was imported before.
    def resolve(path: str) -> object:
        return symbol_by_name(path) if ":" in path else importlib.import_module(path)

    assert resolve(stored) is resolve(target)


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
