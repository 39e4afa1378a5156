"""Django's task framework, from wherever this install has it: ``django.tasks`` (Django 6.0+) or
the ``django_tasks`` backport (Django 5.2, ``pip install django-tasks``; add ``"django_tasks"``
to ``INSTALLED_APPS``). One backend class serves both: the API is the same, two exceptions and
``normalize_json`` moved.

Example::

    from conveyor.django.tasks_api import TaskResult, TaskResultStatus
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

import django

#: Where this install has the framework, and the names that moved between the two.
ROOT = "django.tasks" if django.VERSION >= (6, 0) else "django_tasks"
_MOVED = {"InvalidTaskError": ("exceptions", "InvalidTask" if ROOT == "django.tasks" else "InvalidTaskError")}
_JSON = ("django.utils.json", "normalize_json") if ROOT == "django.tasks" else ("django_tasks.utils", "normalize_json")


def _load(module: str, name: str) -> Any:
    return getattr(import_module(f"{ROOT}.{module}" if module else ROOT), name)


TaskResultStatus = _load("", "TaskResultStatus")
task_backends = _load("", "task_backends")
BaseTaskBackend = _load("backends.base", "BaseTaskBackend")
DEFAULT_TASK_PRIORITY, TASK_MAX_PRIORITY, TASK_MIN_PRIORITY = (
    _load("base", name) for name in ("DEFAULT_TASK_PRIORITY", "TASK_MAX_PRIORITY", "TASK_MIN_PRIORITY")
)
Task, TaskContext, TaskError, TaskResult = (
    _load("base", name) for name in ("Task", "TaskContext", "TaskError", "TaskResult")
)
InvalidTaskError = _load(*_MOVED["InvalidTaskError"])
TaskResultDoesNotExist = _load("exceptions", "TaskResultDoesNotExist")
task_enqueued, task_finished, task_started = (
    _load("signals", name) for name in ("task_enqueued", "task_finished", "task_started")
)
normalize_json = getattr(import_module(_JSON[0]), _JSON[1])

__all__ = [
    "DEFAULT_TASK_PRIORITY",
    "TASK_MAX_PRIORITY",
    "TASK_MIN_PRIORITY",
    "BaseTaskBackend",
    "InvalidTaskError",
    "Task",
    "TaskContext",
    "TaskError",
    "TaskResult",
    "TaskResultDoesNotExist",
    "ROOT",
    "TaskResultStatus",
    "normalize_json",
    "task_backends",
    "task_enqueued",
    "task_finished",
    "task_started",
]
