"""Django's async ORM inside ``async def perform``: a thread of its own per job, its connections closed after.

Django's async ORM methods (``aget``, ``acount``, ``asave``…) run the sync ORM through
``sync_to_async(thread_sensitive=True)``. Outside a request, every such call of the process goes
to one shared thread: all async jobs of a worker would queue on one database connection, and that
connection would stay open from job to job (Celery's Django fixup closes the worker thread's
connections after a job, not that thread's). Here each job coroutine runs in an
``asgiref.sync.ThreadSensitiveContext`` of its own, as Django gives each request one, and the
connections its thread opened are closed when it ends.

Calling the sync ORM directly in a coroutine raises Django's ``SynchronousOnlyOperation``, as it
does in an async view: use the ``a``-methods, or ``sync_to_async``. Each coroutine of a job (its
``perform``, each async callback) gets its own context, so its own connection; a job's ORM calls
do not see a transaction its caller holds open (``perform_now`` inside ``atomic()``, Django's
``TestCase``): test async jobs with ``TransactionTestCase``.

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
    """Run ``coroutine`` in a ThreadSensitiveContext of its own; close its thread's connections after it.

    Under a caller's own context (``aperform_now`` in an async view, or below ``async_to_sync``) the
    job's ORM calls go to the caller's thread and connection, as any ``sync_to_async`` there does:
    they see the caller's transaction, and those connections are the caller's to close.
    """
    from asgiref.sync import AsyncToSync, SyncToAsync, ThreadSensitiveContext, sync_to_async
    from django.db import connections

    if SyncToAsync.thread_sensitive_context.get(None) is not None or getattr(AsyncToSync.executors, "current", None):
        return await coroutine
    async with ThreadSensitiveContext():
        try:
            return await coroutine
        finally:
            await sync_to_async(connections.close_all)()  # in the context's thread: its connections


def enable() -> None:
    """Wrap every job coroutine of this process (done by ``conveyor.django``'s app config)."""
    event_loop.wrap_coroutines(in_a_thread_context_of_its_own)
