"""A worker bootstep that checks the private names before the worker consumes anything.

``configure()`` checks them in the process that configures the app; a worker started from
a different environment (another venv, an upgraded image) checks again here.

Example::

    app.steps["worker"].add(CompatCheck)   # done by conveyor.configure
"""

from __future__ import annotations

from typing import Any

from celery import bootsteps

from conveyor.compat import check_core

__all__ = ["CompatCheck"]


class CompatCheck(bootsteps.StartStopStep):  # type: ignore[misc]
    """Refuse to start a worker on a Celery, kombu or redbeat whose private names changed."""

    label = "conveyor compat check"

    def __init__(self, worker: Any, **kwargs: Any) -> None:
        super().__init__(worker, **kwargs)
        check_core()
