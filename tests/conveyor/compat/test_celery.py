"""``conveyor.compat.celery``: Celery's private names, and the app attributes checked on the live object."""

from __future__ import annotations

import pytest
from celery import Celery

from conveyor.compat import celery as celery_compat
from conveyor.errors import CompatibilityError


def test_attributes_set_in_init_are_checked_on_the_live_object() -> None:
    class Bare:
        pass

    with pytest.raises(CompatibilityError, match=r"celery .* gives .*Bare no _tasks, _finalize_mutex"):
        celery_compat.check_app(Bare())  # type: ignore[arg-type]
    celery_compat.check_app(Celery("fine"))  # a real app has them


def test_looking_up_a_registered_task_does_not_finalize_the_app() -> None:
    # Given an app not finalized yet
    app = Celery("lookup", set_as_current=False)
    # When conveyor looks a task up
    found = celery_compat.registered_task(app, "no.such.task")
    # Then nothing is found and the app is still not finalized (app.tasks would have finalized it)
    assert found is None
    assert not app.finalized


def test_outside_a_running_task_there_is_no_current_worker_task() -> None:
    assert celery_compat.current_worker_task() is None
