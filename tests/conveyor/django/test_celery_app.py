"""``conveyor.django.configure``: the project's CELERY_* settings win over conveyor's defaults."""

from __future__ import annotations

from typing import Any

import pytest
from celery import Celery

import conveyor.django
from conveyor.django.celery_app import settings_for_celery
from conveyor.settings import Settings


def test_the_projects_settings_win_and_conveyors_defaults_fill_the_rest(django_setup: Any) -> None:
    from django.test import override_settings

    with override_settings(
        CELERY_TASK_ACKS_LATE=False, CELERY_CONVEYOR_STORE_RESULTS=True, CELERY_BROKER_URL="redis://127.0.0.1:6379/3"
    ):
        assert settings_for_celery()["task_acks_late"] is False
        app = conveyor.django.configure(Celery("django_settings"), default=False)

    assert app.conf.task_acks_late is False  # the project's (conveyor's default is True)
    assert app.conf.worker_prefetch_multiplier == 1  # conveyor's, the project set none
    assert Settings.from_app(app).store_results is True  # CELERY_CONVEYOR_STORE_RESULTS
    assert app.conf.redbeat_redis_url == "redis://127.0.0.1:6379/3"  # derived from the project's broker


def test_the_projects_app_is_configured_by_conveyor(django_setup: Any) -> None:
    assert django_setup.main == "proj"
    assert django_setup.conf.task_acks_late is True
    assert django_setup.conf.broker_transport_options["queue_order_strategy"] == "priority"


@pytest.mark.parametrize("name", ["CELERY_BROKER_URL", "CELERY_CONVEYOR_SCHEDULED_POLL_INTERVAL"])
def test_only_the_namespace_is_read(django_setup: Any, name: str) -> None:
    assert name.removeprefix("CELERY_").lower() in settings_for_celery()
    assert "secret_key" not in settings_for_celery()
