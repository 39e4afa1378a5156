"""Flower's Batches page: batches with their progress, one batch's jobs by state, Retry dead and Cancel.

GET ``/batches`` lists the batches, newest first (``?page=``), with their progress; GET
``/batches/<id>`` shows one: its counts, times, callbacks (sent or not), parent and child
batches, and its jobs by state (up to ``MEMBERS_SHOWN`` per state). POST
``/batches/<id>/retry-dead`` sends its dead jobs again from the dead set and reopens it; POST
``/batches/<id>/cancel`` marks it cancelled. Both need the login, the form's XSRF token and a
ticked "sure", are refused in Flower's read-only mode, and are logged with the user before and
after. An id in a path is used only once it reads as a batch id (``check_batch_id``).
"""

from __future__ import annotations

import logging

import tornado.web

from conveyor.broker.batches import (
    CHILD_PREFIX,
    STATES,
    BatchState,
    RedisBatchStore,
    check_batch_id,
)
from conveyor.compat.flower import known_tasks
from conveyor.errors import UnknownBatchError
from conveyor.jobs.logs import one_line
from conveyor.schedule.file import local_clock
from conveyor.settings import redis_client
from conveyor.web.views import _ActionView, _Page, page_number

__all__ = ["BatchActionView", "BatchView", "BatchesView"]

logger = logging.getLogger("conveyor.web.flower")

#: Batches per page, and job ids shown per state on a batch's page.
PAGE_SIZE = 50
MEMBERS_SHOWN = 200


def _batch_id(raw: str) -> str:
    try:
        return check_batch_id(raw)
    except ValueError:
        raise tornado.web.HTTPError(404, "no such batch") from None


class BatchesView(_Page):
    @tornado.web.authenticated  # type: ignore[misc]
    async def get(self) -> None:
        app = self.application.capp
        number = page_number(self.get_query_argument("page", "1"))

        def read() -> tuple[int, list[BatchState]]:
            client = redis_client(app)
            try:
                store = RedisBatchStore(client)
                shown = []
                for batch_id in store.ids(limit=PAGE_SIZE, offset=(number - 1) * PAGE_SIZE):
                    try:
                        shown.append(store.state(batch_id))
                    except UnknownBatchError:  # expired since the index listed it
                        continue
                return store.count(), shown
            finally:
                client.close()

        total, batches = await self.read(read)
        self.render(
            "batches.html",
            title="Batches",
            tab="batches",
            batches=batches,
            total=total,
            clock=local_clock,
            number=number,
            pages=max(1, -(-total // PAGE_SIZE)),
            first=(number - 1) * PAGE_SIZE,
            page_url=lambda to: f"{self.reverse_url('batches')}?page={to}",
        )


class BatchView(_Page):
    @tornado.web.authenticated  # type: ignore[misc]
    async def get(self, batch_id: str) -> None:
        app, batch_id = self.application.capp, _batch_id(batch_id)

        def read() -> tuple[BatchState, dict[str, list[str]]]:
            client = redis_client(app)
            try:
                store = RedisBatchStore(client)
                return store.state(batch_id), store.members(batch_id, limit=MEMBERS_SHOWN)
            finally:
                client.close()

        try:
            state, members = await self.read(read)
        except UnknownBatchError:
            raise tornado.web.HTTPError(404, "no such batch (never created, or its keys expired)") from None
        self.render(
            "batch.html",
            title="Batches",
            tab="batches",
            batch=state,
            members=members,
            states=STATES,
            child_prefix=CHILD_PREFIX,
            shown=MEMBERS_SHOWN,
            clock=local_clock,
            known=known_tasks(self.application),  # a job id links to Flower's task page only if Flower knows it
        )


class BatchActionView(_ActionView):
    @tornado.web.authenticated  # type: ignore[misc]
    async def post(self, batch_id: str, action: str) -> None:
        app, batch_id = self.application.capp, _batch_id(batch_id)
        user = self._user()
        page = self.reverse_url("batch", batch_id)
        if self.get_body_argument("confirm", "") != "yes":
            self.flash(f"Nothing done: tick 'sure' next to {'Retry dead' if action == 'retry-dead' else 'Cancel'}")
            self.redirect(page)
            return

        def act() -> str:
            from conveyor.jobs.batch import Batch

            logger.info("batches: %s asked to %s batch %s", user, action, one_line(batch_id))  # before acting
            app.set_current()  # the Batch API (and the dead set's resend) work on the current app
            try:
                batch = Batch.find(batch_id)
                if action == "cancel":
                    batch.cancel()
                    done = f"Cancelled batch {batch_id}: its jobs see self.batch.cancelled"
                else:
                    done = f"Sent {batch.retry_dead()} dead job(s) of batch {batch_id} again"
            except UnknownBatchError:
                raise tornado.web.HTTPError(404, "no such batch (never created, or its keys expired)") from None
            except Exception as exc:
                logger.error("batches: %s failed to %s %s: %s: %s", user, action, batch_id, type(exc).__name__, exc)
                raise
            logger.info("batches: %s: %s", user, done)
            return done

        self.flash(await self.act(act))
        self.redirect(page)
