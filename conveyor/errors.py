"""Every error conveyor raises, under one base class.

Hierarchy::

    ConveyorError                      base of everything below
    ├── DeclarationError               a job class declares something invalid (raised at class definition)
    ├── ConfigurationError             conveyor settings that contradict each other (raised by configure)
    ├── WorkerConfigError              config/worker.yaml is invalid, or Redis evicts keys in production
    ├── ScheduleError                  schedule.yaml is invalid (names the file, the entry and the field)
    ├── EnqueueError                   the broker refused or could not be reached at enqueue
    ├── DuplicateJobError              a @unique job's lock is held by another job (on_conflict="raise")
    ├── NotReplicatedError             the master took the job, too few replicas confirmed it in time
    ├── SerializationError             an argument cannot be sent as JSON (raised at enqueue)
    ├── CompatibilityError             an installed dependency lacks a name conveyor builds on
    ├── MissingExtraError              a part needs an optional dependency that is not installed
    ├── ResultNotStoredError           job.async_result of a job that stores no result
    ├── UnknownBatchError              Batch.find of an id no batch has (never made, or expired)
    ├── ContinuationError              a continuable job's steps are wrong, or it resumed too often
    │   ├── InvalidStepError           a step nested, repeated, or out of the recorded order
    │   ├── UnadvanceableCursorError   step.advance() without a value on a cursor that is not an int
    │   └── ResumeLimitError           the job was resumed max_resumptions times
    └── DeserializationError           a received argument cannot be turned back into an object
        └── RecordNotFound             a referenced record no longer exists

``Abort`` is not an error: a callback raises it to halt enqueuing or performing.
``Interrupt`` is not an error either: a continuable job raises it at a checkpoint when its
worker is stopping; it derives from ``BaseException`` so that ``except Exception`` in a job
does not swallow it.
"""

from __future__ import annotations

__all__ = [
    "Abort",
    "CompatibilityError",
    "ConfigurationError",
    "ContinuationError",
    "ConveyorError",
    "DeclarationError",
    "DeserializationError",
    "DuplicateJobError",
    "EnqueueError",
    "Interrupt",
    "InvalidStepError",
    "MissingExtraError",
    "NotReplicatedError",
    "RecordNotFound",
    "ResultNotStoredError",
    "ResumeLimitError",
    "ScheduleError",
    "SerializationError",
    "UnknownBatchError",
    "UnadvanceableCursorError",
    "WorkerConfigError",
]


class ConveyorError(Exception):
    """Base class of every error raised by conveyor."""


class DeclarationError(ConveyorError, TypeError):
    """Raised when a job class declares an invalid option.

    Raised while the ``class`` statement runs (or the decorator is applied), so a
    mistake fails at import, not when the first job runs.

    Example::

        @retry_on(ConnectionError, attempts=0)   # DeclarationError: attempts must be ...
        class SyncJob(Job): ...
    """


class ConfigurationError(ConveyorError, ValueError):
    """Raised by ``conveyor.configure`` when settings contradict each other; the message names the fix."""


class WorkerConfigError(ConveyorError, ValueError):
    """Raised when a worker configuration file (``config/worker.yaml``) is invalid.

    The message names the file and the field, and says what is accepted.
    """


class ScheduleError(ConveyorError, ValueError):
    """Raised when a schedule file is invalid; nothing is written to Redis then.

    ``problems`` lists each one as ``<entry>.<field>: <message>``; the message
    starts with the file.
    """

    def __init__(self, path: object, problems: list[str]) -> None:
        self.path = path
        self.problems = problems
        super().__init__(f"{path}: " + f"\n{path}: ".join(problems))


class EnqueueError(ConveyorError):
    """Raised when a job could not be handed to the broker.

    The broker's own exception is kept as ``__cause__``. Nothing was enqueued
    for the job named in the message (for a batch: see ``enqueued`` and ``failed``).
    """


class NotReplicatedError(ConveyorError):
    """Raised at enqueue when fewer replicas than ``conveyor_enqueue_replicas`` confirmed the write in time.

    The job *was* written to the master and will run unless the master fails before a replica
    has it; enqueuing it again may run it twice (make such jobs ``@unique`` or idempotent).
    ``wanted`` and ``confirmed`` are the replica counts.
    """

    def __init__(self, message: str, *, wanted: int, confirmed: int) -> None:
        super().__init__(message)
        self.wanted, self.confirmed = wanted, confirmed


class DuplicateJobError(ConveyorError):
    """A ``@unique`` job was enqueued while another job holds its lock (``on_conflict="raise"``).

    ``job_id`` is the refused job's id, ``holder_id`` the id of the job holding the lock.
    Nothing was enqueued for the refused job.
    """

    def __init__(self, message: str, job_id: str = "", holder_id: str = "") -> None:
        super().__init__(message)
        self.job_id, self.holder_id = job_id, holder_id


class SerializationError(ConveyorError, TypeError):
    """Raised at enqueue when an argument has no JSON representation.

    The message names the argument (position or keyword, and the path inside
    containers) and its type, and says how to register a serializer.
    """


class DeserializationError(ConveyorError):
    """Raised in the worker when a received argument cannot be rebuilt.

    Raised inside the job's execution, so ``discard_on(DeserializationError)``
    and ``retry_on`` can handle it like any other error of ``perform``.
    """


class RecordNotFound(DeserializationError):
    """Raised when an argument refers to a record that no longer exists.

    Example::

        @discard_on(RecordNotFound)
        class ReportGenerationJob(Job): ...
    """


class Abort(Exception):
    """Raised by a ``before_*`` or ``around_*`` callback to halt the chain.

    Halting an enqueue means nothing is sent and ``job.successfully_enqueued``
    is False; halting a perform means ``perform`` does not run.

    Example::

        @before_enqueue
        def only_on_weekdays(self):
            if date.today().weekday() >= 5:
                raise Abort("no reports at weekends")
    """


class CompatibilityError(ConveyorError):
    """An installed dependency lacks a name conveyor builds on (see ``conveyor.compat``).

    Raised by ``conveyor.configure`` and at worker start, before anything can run on a
    changed private API (a renamed kombu method would otherwise turn the reliable fetch
    off without an error). The message names the package, its version and the name.
    """


class MissingExtraError(ConveyorError, ImportError):
    """A part of conveyor needs an optional dependency that is not installed.

    The message names the extra to install, e.g. ``pip install 'conveyor[flower]'``.
    """


class UnknownBatchError(ConveyorError, LookupError):
    """No batch has this id: it was never created, or its keys expired (``conveyor.broker.batches``)."""


class ResultNotStoredError(ConveyorError):
    """``job.async_result`` of a job whose result is not stored.

    Jobs store no result unless asked (ActiveJob has none; the write cost a worker a sixth of
    its throughput): declare ``store_result = True`` on the job class, or configure
    ``conveyor_store_results=True`` for every job of the app. Flower still shows every job's
    state, runtime, return value and failure, from the task events.
    """


class ContinuationError(ConveyorError):
    """Base of the errors of continuable jobs (``conveyor.jobs.continuable``)."""


class InvalidStepError(ContinuationError):
    """A step is nested in another, repeated, or not where the recorded progress expects it.

    Example::

        for _ in self.step("process"):
            for _ in self.step("inner"):    # InvalidStepError: steps cannot be nested
                ...
    """


class UnadvanceableCursorError(ContinuationError):
    """``step.advance()`` without a value needs an int cursor; pass ``step.advance(to)`` or ``start=0``."""


class ResumeLimitError(ContinuationError):
    """A continuable job was resumed ``max_resumptions`` times; it goes to the dead set."""


class Interrupt(BaseException):
    """Raised at a checkpoint of a continuable job whose worker is stopping.

    conveyor catches it and enqueues the job again with its progress; a job never needs
    to raise or catch it. A ``BaseException`` so that ``except Exception`` does not stop it.
    """
