"""``EnqueuedJobs``: ActiveJob::TestHelper's assertions over recorded jobs, and performing them.

Every assertion takes the same filters: ``only=`` / ``except_=`` (a job class, a list of
classes, or a callable over the ``EnqueuedJob`` record) and ``queue=``. Counting assertions
have block forms that count only what the block enqueues or performs::

    with enqueued_jobs.expect(2, only=ReportGenerationJob):
        generate_reports()
    with enqueued_jobs.expect_performed(1):           # performs what the block enqueues
        ReportGenerationJob.perform_later(42)
    enqueued_jobs.assert_enqueued_with(job=ReportGenerationJob, args=(report,), at=lambda at: at is not None)

``args`` and ``kwargs`` are compared after serialization, as the worker would receive them:
a model loaded again with the same primary key matches. Any criterion may be a callable
(a matcher) instead of a value.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from conveyor.testing.helpers import EnqueuedJob, TestAdapter
from conveyor.testing.matching import Filter, args_match, at_match, instead, kwargs_match, same, scope, selector, shown

if TYPE_CHECKING:
    pass

__all__ = ["EnqueuedJobs", "enqueued_jobs_recorded"]


class EnqueuedJobs:
    """Assertions over the jobs recorded during a test (the ``enqueued_jobs`` fixture)."""

    def __init__(self, adapter: TestAdapter) -> None:
        self.adapter = adapter
        #: Jobs run by ``perform_all`` / ``expect_performed``, oldest first.
        self.performed: list[EnqueuedJob] = []

    @property
    def jobs(self) -> list[EnqueuedJob]:
        """Jobs enqueued and not yet performed, oldest first."""
        return list(self.adapter.jobs)

    def count(self, only: Filter = None, queue: str | None = None, except_: Filter = None) -> int:
        """How many enqueued jobs pass the filters."""
        return len([entry for entry in self.jobs if selector(only, except_, queue)(entry)])

    def clear(self) -> None:
        """Forget every recorded job."""
        with self.adapter._lock:
            self.adapter.jobs.clear()
        self.performed.clear()

    # --- enqueued -------------------------------------------------------------------------------

    def assert_enqueued_jobs(
        self, number: int, only: Filter = None, queue: str | None = None, except_: Filter = None
    ) -> None:
        """Assert exactly ``number`` enqueued jobs pass the filters."""
        self._assert_count(number, self.jobs, "enqueued", only, except_, queue)

    def assert_no_enqueued_jobs(self, only: Filter = None, queue: str | None = None, except_: Filter = None) -> None:
        """Assert no enqueued job passes the filters."""
        self.assert_enqueued_jobs(0, only=only, queue=queue, except_=except_)

    @contextlib.contextmanager
    def expect(
        self, number: int, only: Filter = None, queue: str | None = None, except_: Filter = None
    ) -> Iterator[None]:
        """Block form of ``assert_enqueued_jobs``: counts only the jobs the block enqueues."""
        with self._block() as new:
            yield
        self._assert_count(number, new, "enqueued by the block", only, except_, queue)

    def expect_none(self, only: Filter = None, queue: str | None = None, except_: Filter = None) -> Any:
        """Block form of ``assert_no_enqueued_jobs``."""
        return self.expect(0, only=only, queue=queue, except_=except_)

    def assert_enqueued_with(
        self,
        job: Any = None,
        args: Any = None,
        kwargs: Any = None,
        queue: Any = None,
        priority: Any = None,
        at: Any = None,
    ) -> EnqueuedJob:
        """Assert a job matching every given criterion was enqueued; returns it (see the module doc)."""
        return self._find(self.jobs, "enqueued", job, args, kwargs, queue, priority, at)

    @contextlib.contextmanager
    def expect_enqueued_with(self, **criteria: Any) -> Iterator[None]:
        """Block form of ``assert_enqueued_with``: a job the block enqueues must match."""
        with self._block() as new:
            yield
        self._find(new, "enqueued", where=" among the jobs the block enqueued", **criteria)

    # --- performed ------------------------------------------------------------------------------

    def assert_performed_jobs(
        self, number: int, only: Filter = None, queue: str | None = None, except_: Filter = None
    ) -> None:
        """Assert exactly ``number`` performed jobs pass the filters."""
        self._assert_count(number, self.performed, "performed", only, except_, queue)

    def assert_no_performed_jobs(self, only: Filter = None, queue: str | None = None, except_: Filter = None) -> None:
        """Assert no performed job passes the filters."""
        self.assert_performed_jobs(0, only=only, queue=queue, except_=except_)

    @contextlib.contextmanager
    def expect_performed(
        self, number: int | None = None, only: Filter = None, queue: str | None = None, except_: Filter = None
    ) -> Iterator[None]:
        """Perform the jobs the block enqueues (those passing the filters), then assert how many ran."""
        with self._block(perform={"only": only, "except_": except_, "queue": queue}) as ran:
            yield
        if number is not None:
            self._assert_count(number, ran, "performed by the block", only, except_, queue)

    def expect_no_performed(self, only: Filter = None, queue: str | None = None, except_: Filter = None) -> Any:
        """Block form of ``assert_no_performed_jobs``."""
        return self.expect_performed(0, only=only, queue=queue, except_=except_)

    @contextlib.contextmanager
    def expect_performed_with(self, **criteria: Any) -> Iterator[None]:
        """Perform what the block enqueues; one of those jobs must match (``assert_performed_with``'s block form)."""
        with self._block(perform={}) as ran:
            yield
        self._find(ran, "performed", where=" among the jobs the block performed", **criteria)

    def assert_performed_with(
        self,
        job: Any = None,
        args: Any = None,
        kwargs: Any = None,
        queue: Any = None,
        priority: Any = None,
        at: Any = None,
    ) -> EnqueuedJob:
        """Assert a job matching every given criterion was performed; returns it."""
        return self._find(self.performed, "performed", job, args, kwargs, queue, priority, at)

    def perform_all(
        self,
        at: dt.datetime | None = None,
        max_jobs: int = 10_000,
        only: Filter = None,
        except_: Filter = None,
        queue: str | None = None,
    ) -> int:
        """Run enqueued jobs in-process, including the ones they enqueue; returns how many ran.

        With ``at``, only jobs due by then run; with the filters, only the jobs passing them (the
        others stay enqueued). Each job is rebuilt from its serialized arguments, as a worker would;
        errors propagate to the test. ``max_jobs`` stops a job that keeps enqueuing itself.
        """
        selected, performed = selector(only, except_, queue), 0
        while True:
            due = [
                entry for entry in self.jobs if (at is None or entry.at is None or entry.at <= at) and selected(entry)
            ]
            if not due:
                return performed
            for entry in due:
                with self.adapter._lock:
                    self.adapter.jobs.remove(entry)
                self.performed.append(entry)
                performed += 1
                if performed > max_jobs:
                    raise AssertionError(
                        f"perform_all ran {max_jobs} jobs and more keep coming: a job re-enqueues itself?"
                    )
                job = entry.job_class._from_message(
                    entry.job_id, *entry.serialized, entry.meta, entry.executions, queue=entry.queue
                )
                job._execute_in_batch() if job.batch_id is not None else job._execute()

    # --- shared ---------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _block(self, perform: dict[str, Any] | None = None) -> Iterator[list[EnqueuedJob]]:
        """The jobs a block enqueued or, with ``perform`` (perform_all's filters), then performed; filled at its end."""
        enqueued_before, performed_before = {id(entry) for entry in self.adapter.jobs}, len(self.performed)
        found: list[EnqueuedJob] = []
        yield found
        if perform is None:
            found.extend(entry for entry in self.adapter.jobs if id(entry) not in enqueued_before)
        else:
            self.perform_all(**perform)
            found.extend(self.performed[performed_before:])

    @staticmethod
    def _assert_count(
        number: int, entries: list[EnqueuedJob], what: str, only: Filter, except_: Filter, queue: str | None
    ) -> None:
        found = [entry for entry in entries if selector(only, except_, queue)(entry)]
        if len(found) != number:
            listing = "\n".join(f"  {entry}" for entry in entries) or "  (none)"
            raise AssertionError(
                f"{number} job(s){scope(only, except_, queue)} expected to be {what}, but {len(found)} were.\n"
                f"{what.capitalize()}:\n{listing}"
            )

    def _find(
        self,
        entries: list[EnqueuedJob],
        what: str,
        job: Any = None,
        args: Any = None,
        kwargs: Any = None,
        queue: Any = None,
        priority: Any = None,
        at: Any = None,
        where: str = "",
    ) -> EnqueuedJob:
        def matches(entry: EnqueuedJob) -> bool:
            return (
                (job is None or (entry.job_class is job if isinstance(job, type) else same(job, entry.job_class)))
                and (args is None or args_match(entry, args))
                and (kwargs is None or kwargs_match(entry, kwargs))
                and (queue is None or same(queue, entry.queue))
                and (priority is None or same(priority, entry.priority))
                and (at is None or at_match(entry.at, at))
            )

        for entry in entries:
            if matches(entry):
                return entry
        given = (("job", job), ("args", args), ("kwargs", kwargs), ("queue", queue), ("priority", priority), ("at", at))
        wanted = ", ".join(f"{key}={shown(value)}" for key, value in given if value is not None)
        raise AssertionError(f"No {what} job found with {wanted}{where}\n\n{instead(entries, what, job)}")

    # --- mail -------------------------------------------------------------------------------------

    def emails(self) -> list[EnqueuedJob]:
        """Enqueued mail deliveries (``deliver_later``)."""
        from conveyor.mail.mailer import MailDeliveryJob

        return [entry for entry in self.jobs if entry.job_class is MailDeliveryJob]

    def assert_enqueued_email_with(
        self, mailer: type[Any], action: str, args: Sequence[Any] | None = None, kwargs: dict[str, Any] | None = None
    ) -> EnqueuedJob:
        """Assert ``mailer.action(*args, **kwargs).deliver_later()`` was called; returns the delivery job."""
        path = f"{mailer.__module__}.{mailer.__qualname__}"
        for entry in self.emails():
            got_path, got_action, got_args, got_kwargs = entry.args
            if (
                (got_path, got_action) == (path, action)
                and (args is None or tuple(got_args) == tuple(args))
                and (kwargs is None or got_kwargs == kwargs)
            ):
                return entry
        listing = (
            "\n".join(
                f"  {path.rpartition('.')[2]}.{name}(args={tuple(got)!r}, kwargs={got_kw!r})"
                for path, name, got, got_kw in (entry.args for entry in self.emails())
            )
            or "  (none)"
        )
        wanted = f"{mailer.__qualname__}.{action}" + (f"(args={tuple(args)!r})" if args is not None else "")
        raise AssertionError(f"No email enqueued for {wanted}\n\nEmails enqueued:\n{listing}")


@contextlib.contextmanager
def enqueued_jobs_recorded() -> Iterator[EnqueuedJobs]:
    """Record jobs instead of sending them inside the block."""
    from conveyor.jobs.adapters import use_adapter

    with use_adapter(TestAdapter()) as adapter:
        yield EnqueuedJobs(adapter)
