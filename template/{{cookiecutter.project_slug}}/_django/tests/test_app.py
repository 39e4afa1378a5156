"""The Django project's wiring: checks pass, the jobs and tasks are registered, the queues are the file's."""

from __future__ import annotations

from typing import Any

from django.core.management import call_command


def test_django_system_checks_pass() -> None:
    call_command("check", fail_level="WARNING")  # conveyor's checks included (broker, queues, backport)


def test_the_celery_app_has_the_queues_of_worker_yaml(celery_app: Any) -> None:
    queues = {queue.name for queue in celery_app.conf.task_queues}
    assert {"default", "low_priority", "maintenance"} <= queues


def test_the_tests_run_on_redis_database_15_and_app_env_test(celery_app: Any) -> None:
    from config.settings import settings

    assert celery_app.conf.broker_url.endswith("/15")  # not the database make run's queues are in
    assert settings.app_env == "test"
