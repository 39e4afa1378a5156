"""``conveyor.django.tasks_api``: Django's task framework from wherever this install has it."""

from __future__ import annotations

from typing import Any


def test_the_names_come_from_the_installed_framework(django_setup: Any) -> None:
    import django

    from conveyor.django import tasks_api

    module = "django.tasks" if django.VERSION >= (6, 0) else "django_tasks"
    assert tasks_api.Task.__module__.startswith(module)
    assert tasks_api.BaseTaskBackend.__module__.startswith(module)
    assert (tasks_api.TASK_MIN_PRIORITY, tasks_api.DEFAULT_TASK_PRIORITY, tasks_api.TASK_MAX_PRIORITY) == (-100, 0, 100)
    assert [status.value for status in tasks_api.TaskResultStatus] == ["READY", "RUNNING", "FAILED", "SUCCESSFUL"]
