"""The Django project's wiring: checks pass, the jobs and tasks are registered, the queues are the file's."""

from __future__ import annotations

from typing import Any

from django.core.management import call_command


def test_django_system_checks_pass() -> None:
    call_command("check", fail_level="WARNING")  # conveyor's checks included (broker, queues, backport)


def test_the_celery_app_has_the_queues_of_worker_yaml(celery_app: Any) -> None:
    queues = {queue.name for queue in celery_app.conf.task_queues}
    assert {"default", "low_priority", "maintenance"} <= queues
