"""conveyor's Django system checks, as ``manage.py check`` runs them."""

from __future__ import annotations

from typing import Any

from celery import Celery

import conveyor
from conveyor.django.checks import check_conveyor


def ids(problems: list[Any]) -> list[str]:
    return [problem.id for problem in problems]


def test_the_test_project_has_no_problem(django_setup: Any) -> None:
    django_setup.set_current()
    assert check_conveyor() == []


def test_no_redis_broker_and_an_unconsumed_queue_are_named(django_setup: Any) -> None:
    from django.test import override_settings

    amqp = conveyor.configure(Celery("amqp"), default=False, broker_url="amqp://guest@127.0.0.1//")
    amqp.conf.task_queues = None
    amqp.set_current()
    try:
        [problem] = check_conveyor()
        assert problem.id == "conveyor.E001"
        assert "has no Redis broker (amqp://guest@127.0.0.1//)" in problem.msg
        assert "CELERY_BROKER_URL" in problem.hint
    finally:
        django_setup.set_current()

    from kombu import Queue

    django_setup.conf.task_queues = [Queue("default"), Queue("django_tasks")]
    tasks = {"default": {"BACKEND": "conveyor.django.backend.ConveyorBackend", "QUEUES": ["default", "reprots"]}}
    try:
        with override_settings(TASKS=tasks):
            [warning] = check_conveyor()
    finally:
        django_setup.conf.task_queues = None
    assert warning.id == "conveyor.W001"
    assert "QUEUES reprots: no queue the worker consumes" in warning.msg
