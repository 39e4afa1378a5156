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
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from conveyor.serialization import serialize_arguments
from conveyor.testing.helpers import EnqueuedJob, TestAdapter

if TYPE_CHECKING:
    from conveyor.jobs.job import Job

__all__ = ["EnqueuedJobs", "Filter", "enqueued_jobs_recorded"]

#: ``at=`` matches a job scheduled within this many seconds of it (enqueue takes time too).
AT_TOLERANCE_S = 1.0
Filter = type["Job"] | Iterable[type["Job"]] | Callable[[EnqueuedJob], bool] | None


def _test(spec: Filter) -> Callable[[EnqueuedJob], bool] | None:
    if spec is None:
        return None
    if isinstance(spec, type):
        return lambda entry: issubclass(entry.job_class, spec)
    if callable(spec):
        return spec
    classes = tuple(spec)
    return lambda entry: issubclass(entry.job_class, classes)


def _selector(only: Filter, except_: Filter, queue: str | None) -> Callable[[EnqueuedJob], bool]:
    keep, drop = _test(only), _test(except_)
    return lambda entry: (
        (keep is None or keep(entry)) and (drop is None or not drop(entry)) and (queue is None or entry.queue == queue)
    )


def _scope(only: Filter, except_: Filter, queue: str | None) -> str:
    def name(spec: Filter) -> str:
        if isinstance(spec, type):
            return spec.__qualname__
        if callable(spec):
            return getattr(spec, "__name__", "a matcher")
        return ", ".join(cls.__qualname__ for cls in spec or ())

    parts = [f"of {name(only)}" if only is not None else "", f"except {name(except_)}" if except_ is not None else ""]
    parts.append(f"on queue {queue!r}" if queue is not None else "")
    text = " ".join(part for part in parts if part)
    return f" {text}" if text else ""


def _same(expected: Any, actual: Any) -> bool:
    return bool(expected(actual)) if callable(expected) and not isinstance(expected, type) else expected == actual


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
        return len([entry for entry in self.jobs if _selector(only, except_, queue)(entry)])

    def clear(self) -> None:
        """Forget every recorded job."""
        with self.adapter._lock:
            self.adapter.jobs.clear()
        self.performed.clear()

    # --- enqueued -------------------------------------------------------------------------------

    def assert_enqueued_jobs(self, number: int, only: Filter = None, queue: str | None = None,
                             except_: Filter = None) -> None:  # fmt: skip
        """Assert exactly ``number`` enqueued jobs pass the filters."""
        self._assert_count(number, self.jobs, "enqueued", only, except_, queue)

    def assert_no_enqueued_jobs(self, only: Filter = None, queue: str | None = None, except_: Filter = None) -> None:
        """Assert no enqueued job passes the filters."""
        self.assert_enqueued_jobs(0, only=only, queue=queue, except_=except_)

    @contextlib.contextmanager
    def expect(self, number: int, only: Filter = None, queue: str | None = None,
               except_: Filter = None) -> Iterator[None]:  # fmt: skip
        """Block form of ``assert_enqueued_jobs``: counts only the jobs the block enqueues."""
        before = {id(entry) for entry in self.adapter.jobs}
        yield
        new = [entry for entry in self.adapter.jobs if id(entry) not in before]
        self._assert_count(number, new, "enqueued by the block", only, except_, queue)

    def expect_none(self, only: Filter = None, queue: str | None = None, except_: Filter = None) -> Any:
        """Block form of ``assert_no_enqueued_jobs``."""
        return self.expect(0, only=only, queue=queue, except_=except_)

    def assert_enqueued_with(self, job: Any = None, args: Any = None, kwargs: Any = None, queue: Any = None,
                             priority: Any = None, at: Any = None) -> EnqueuedJob:  # fmt: skip
        """Assert a job matching every given criterion was enqueued; returns it (see the module doc)."""
        return self._find(self.jobs, "enqueued", job, args, kwargs, queue, priority, at)

    # --- performed ------------------------------------------------------------------------------

    def assert_performed_jobs(self, number: int, only: Filter = None, queue: str | None = None,
                              except_: Filter = None) -> None:  # fmt: skip
        """Assert exactly ``number`` performed jobs pass the filters."""
        self._assert_count(number, self.performed, "performed", only, except_, queue)

    def assert_no_performed_jobs(self, only: Filter = None, queue: str | None = None, except_: Filter = None) -> None:
        """Assert no performed job passes the filters."""
        self.assert_performed_jobs(0, only=only, queue=queue, except_=except_)

    @contextlib.contextmanager
    def expect_performed(self, number: int | None = None, only: Filter = None, queue: str | None = None,
                         except_: Filter = None) -> Iterator[None]:  # fmt: skip
        """Perform the jobs the block enqueues (those passing the filters), then assert how many ran."""
        before = len(self.performed)
        yield
        self.perform_all(only=only, except_=except_, queue=queue)
        if number is not None:
            self._assert_count(number, self.performed[before:], "performed by the block", only, except_, queue)

    def expect_no_performed(self, only: Filter = None, queue: str | None = None, except_: Filter = None) -> Any:
        """Block form of ``assert_no_performed_jobs``."""
        return self.expect_performed(0, only=only, queue=queue, except_=except_)

    def assert_performed_with(self, job: Any = None, args: Any = None, kwargs: Any = None, queue: Any = None,
                              priority: Any = None, at: Any = None) -> EnqueuedJob:  # fmt: skip
        """Assert a job matching every given criterion was performed; returns it."""
        return self._find(self.performed, "performed", job, args, kwargs, queue, priority, at)

    def perform_all(self, at: dt.datetime | None = None, max_jobs: int = 10_000, only: Filter = None,
                    except_: Filter = None, queue: str | None = None) -> int:  # fmt: skip
        """Run enqueued jobs in-process, including the ones they enqueue; returns how many ran.

        With ``at``, only jobs due by then run; with the filters, only the jobs passing them (the
        others stay enqueued). Each job is rebuilt from its serialized arguments, as a worker would;
        errors propagate to the test. ``max_jobs`` stops a job that keeps enqueuing itself.
        """
        selected, performed = _selector(only, except_, queue), 0
        while True:
            due = [entry for entry in self.jobs
                   if (at is None or entry.at is None or entry.at <= at) and selected(entry)]  # fmt: skip
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
                job._execute()

    # --- shared ---------------------------------------------------------------------------------

    @staticmethod
    def _assert_count(number: int, entries: list[EnqueuedJob], what: str, only: Filter, except_: Filter,
                      queue: str | None) -> None:  # fmt: skip
        found = [entry for entry in entries if _selector(only, except_, queue)(entry)]
        if len(found) != number:
            listing = "\n".join(f"  {entry}" for entry in entries) or "  (none)"
            raise AssertionError(
                f"{number} job(s){_scope(only, except_, queue)} expected to be {what}, but {len(found)} were.\n"
                f"{what.capitalize()}:\n{listing}"
            )

    def _find(self, entries: list[EnqueuedJob], what: str, job: Any, args: Any, kwargs: Any, queue: Any,
              priority: Any, at: Any) -> EnqueuedJob:  # fmt: skip
        def matches(entry: EnqueuedJob) -> bool:
            return (
                (job is None or (entry.job_class is job if isinstance(job, type) else _same(job, entry.job_class)))
                and (args is None or _args_match(entry, args))
                and (kwargs is None or _kwargs_match(entry, kwargs))
                and (queue is None or _same(queue, entry.queue))
                and (priority is None or _same(priority, entry.priority))
                and (at is None or _at_match(entry.at, at))
            )

        for entry in entries:
            if matches(entry):
                return entry
        given = (("job", job), ("args", args), ("kwargs", kwargs), ("queue", queue), ("priority", priority), ("at", at))
        wanted = ", ".join(f"{key}={_shown(value)}" for key, value in given if value is not None)
        raise AssertionError(f"No {what} job found with {wanted}\n\n{_instead(entries, what, job)}")

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
        listing = "\n".join(
            f"  {path.rpartition('.')[2]}.{name}(args={tuple(got)!r}, kwargs={got_kw!r})"
            for path, name, got, got_kw in (entry.args for entry in self.emails())
        ) or "  (none)"  # fmt: skip
        wanted = f"{mailer.__qualname__}.{action}" + (f"(args={tuple(args)!r})" if args is not None else "")
        raise AssertionError(f"No email enqueued for {wanted}\n\nEmails enqueued:\n{listing}")


def _shown(value: Any) -> str:
    if isinstance(value, type):
        return value.__qualname__
    return f"{getattr(value, '__name__', 'a matcher')} (a matcher)" if callable(value) else repr(value)


def _args_match(entry: EnqueuedJob, args: Any) -> bool:
    if callable(args):
        return bool(args(entry.args))
    try:  # compared as they travel: a record loaded again with the same key is the same argument
        expected, _ = serialize_arguments("assert_*_with", (), tuple(args), {})
    except Exception:
        return bool(entry.args == tuple(args))
    return bool(expected == entry.serialized[0])


def _kwargs_match(entry: EnqueuedJob, kwargs: Any) -> bool:
    if callable(kwargs):
        return bool(kwargs(entry.kwargs))
    try:
        _, expected = serialize_arguments("assert_*_with", (), (), dict(kwargs))
    except Exception:
        return bool(entry.kwargs == kwargs)
    return bool(expected == entry.serialized[1])


def _at_match(actual: dt.datetime | None, at: Any) -> bool:
    if callable(at) and not isinstance(at, dt.datetime):
        return bool(at(actual))
    return actual is not None and abs((actual - at).total_seconds()) <= AT_TOLERANCE_S


def _instead(entries: list[EnqueuedJob], what: str, job: Any) -> str:
    if not entries:
        return f"No jobs were {what}."
    if isinstance(job, type) and not any(entry.job_class is job for entry in entries):
        classes = ", ".join(sorted({entry.job_class.__qualname__ for entry in entries}))
        return f"No jobs of class {job.__qualname__} were {what}, job classes {what}: {classes}"
    candidates = [entry for entry in entries if not isinstance(job, type) or entry.job_class is job]
    return "Potential matches: " + "\n                   ".join(str(entry) for entry in candidates)


@contextlib.contextmanager
def enqueued_jobs_recorded() -> Iterator[EnqueuedJobs]:
    """Record jobs instead of sending them inside the block."""
    from conveyor.jobs.adapters import use_adapter

    with use_adapter(TestAdapter()) as adapter:
        yield EnqueuedJobs(adapter)
