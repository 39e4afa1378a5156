"""Django's async ORM inside ``async def perform``: a thread of its own per job, its connections closed after.

Django's async ORM methods (``aget``, ``acount``, ``asave``…) run the sync ORM through
``sync_to_async(thread_sensitive=True)``. Outside a request, every such call of the process goes
to one shared thread: all async jobs of a worker would queue on one database connection, and that
connection would stay open from job to job (Celery's Django fixup closes the worker thread's
connections after a job, not that thread's). Here each job coroutine runs in an
``asgiref.sync.ThreadSensitiveContext`` of its own, as Django gives each request one, and the
connections its thread opened are closed when it ends.

Calling the sync ORM directly in a coroutine raises Django's ``SynchronousOnlyOperation``, as it
does in an async view: use the ``a``-methods, or ``sync_to_async``.

Example::

    class ArchiveReportJob(Job):
        async def perform(self, report_id: int) -> None:
            report = await Report.objects.aget(pk=report_id)
            report.archived = True
            await report.asave(update_fields=["archived"])
"""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any

from conveyor.jobs import event_loop

__all__ = ["enable", "in_a_thread_context_of_its_own"]


async def in_a_thread_context_of_its_own(coroutine: Coroutine[Any, Any, Any]) -> Any:
    """Run ``coroutine`` in a ThreadSensitiveContext of its own; close its thread's connections after it."""
    from asgiref.sync import ThreadSensitiveContext, sync_to_async
    from django.db import connections

    async with ThreadSensitiveContext():
        try:
            return await coroutine
        finally:
            await sync_to_async(connections.close_all)()  # in the context's thread: its connections


def enable() -> None:
    """Wrap every job coroutine of this process (done by ``conveyor.django``'s app config)."""
    event_loop.wrap_coroutines(in_a_thread_context_of_its_own)
