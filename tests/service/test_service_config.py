"""The reference service's own configuration: its schedule, its worker queues, its task modules."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from conveyor.broker.worker_file import load_worker_config
from conveyor.schedule import load_schedule
from conveyor.schedule.zoned_cron import ZonedCron

ROOT = Path(__file__).resolve().parents[2]


def test_the_services_schedule_holds_the_seeds_two_entries() -> None:
    jobs = load_schedule(ROOT / "schedule.yaml")
    assert set(jobs) == {"daily_cleanup", "weekly_report"}
    cleanup, weekly = jobs["daily_cleanup"], jobs["weekly_report"]
    assert (cleanup.cron, cleanup.timezone, cleanup.queue, cleanup.args) == (
        "0 2 * * *",
        "Europe/Berlin",
        "maintenance",
        [90],
    )
    assert cleanup.task == "tasks.daily_cleanup_job.DailyCleanupJob"
    assert (weekly.cron, weekly.timezone, weekly.task) == (
        "0 9 * * 1",
        "UTC",
        "tasks.weekly_report_job.WeeklyReportJob",
    )
    assert weekly.schedule == ZonedCron("0 9 * * 1", "UTC")


def test_the_services_worker_yaml_is_the_seeds_sidekiq_yml(celery_app: Any) -> None:
    config = load_worker_config(ROOT / "config" / "worker.yaml")
    assert config.concurrency == 5
    assert config.queues == [
        ("high_priority", 2),
        ("default", 1),
        ("notifications", 1),
        ("low_priority", 1),
        ("mailers", 1),
        ("maintenance", 1),
    ]
    assert config.mode == "weighted"


def test_the_service_app_consumes_exactly_those_queues_with_that_concurrency(celery_app: Any) -> None:
    assert [queue.name for queue in celery_app.conf.task_queues] == [
        "high_priority",
        "default",
        "notifications",
        "low_priority",
        "mailers",
        "maintenance",
    ]
    assert celery_app.conf.worker_concurrency == 5
    strategy = celery_app.conf.broker_transport_options["queue_order_strategy"]
    assert strategy == "conveyor.broker.fetch.queue_order:WeightedCycle"
    assert celery_app.conf.broker_transport_options["priority_steps"] == list(range(10))


def test_the_worker_imports_every_module_in_tasks(celery_app: Any) -> None:
    celery_app.loader.import_default_modules()  # what `celery worker` does at start
    assert "tasks.report_generation_job.ReportGenerationJob" in celery_app.tasks
