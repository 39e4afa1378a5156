"""The job instance: its arguments, identity and execution state, and ``set(...)``.

A job instance is created with ``perform``'s arguments, which are checked
against ``perform``'s signature right away, in the caller's process:

    job = ReportGenerationJob(42)          # TypeError if perform() does not accept (42)
    job.set(queue="high_priority")         # enqueue options for this instance
    perform_all_later([job])

Attributes (set at enqueue, or by the worker before ``perform``):
``job_id`` (the Celery task id, the same across retries), ``arguments`` (tuple of
positional arguments), ``keyword_arguments`` (dict), ``executions`` (1 on the
first run), ``exception_executions`` (per ``retry_on`` declaration), ``queue_name``,
``priority``, ``enqueued_at``, ``scheduled_at`` (aware datetimes or None),
``successfully_enqueued``, ``logger``.

``set(...)`` (enqueue options) is in ``conveyor.jobs.enqueuing``.
"""

from __future__ import annotations

import datetime as dt
import inspect
import logging
import uuid
from collections.abc import Callable
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar, overload

from conveyor.errors import DeclarationError, ResultNotStoredError
from conveyor.jobs.app_lookup import current_app
from conveyor.jobs.enqueue_options import EnqueueOptions
from conveyor.jobs.logs import JobLogger
from conveyor.settings import settings_for

if TYPE_CHECKING:
    from celery import Task

    from conveyor.jobs.batch_scope import OpenBatch
    from conveyor.jobs.callbacks import Chain
    from conveyor.records import JobHeader
    from conveyor.settings import Settings

__all__ = ["Core", "EnqueueOptions"]

T = TypeVar("T")


class _ClassOrInstanceMethod(Generic[T]):
    """Descriptor calling one function on the class and another on an instance."""

    def __init__(self, on_class: Callable[..., Any], on_instance: Callable[..., Any]) -> None:
        self.on_class = on_class
        self.on_instance = on_instance
        self.__doc__ = on_class.__doc__

    @overload
    def __get__(self, instance: None, owner: type) -> Callable[..., Any]: ...
    @overload
    def __get__(self, instance: object, owner: type) -> Callable[..., Any]: ...
    def __get__(self, instance: object | None, owner: type) -> Callable[..., Any]:
        if instance is None:
            return self.on_class.__get__(owner, owner)  # type: ignore[no-any-return]
        return self.on_instance.__get__(instance, owner)  # type: ignore[no-any-return]


class Core:
    """Mixin: construction, the signature check, identity and state, ``set``."""

    #: False hides arguments from logs and from Flower (None: the app's ``conveyor_log_arguments``).
    log_arguments: ClassVar[bool | None] = None
    #: True stores what perform returns, for ``job.async_result`` (None: the app's ``conveyor_store_results``,
    #: default False: ActiveJob jobs have no result, and the write costs a sixth of a worker's throughput).
    #: A failure is stored either way; Flower shows state, runtime, return value and failure from events.
    store_result: ClassVar[bool | None] = None
    #: False sends the job at once even inside a transaction (see ``conveyor.sqlalchemy.transactions``).
    enqueue_after_transaction_commit: bool = True  # set(after_commit=False) sets it on one job

    # Filled by Job.__init_subclass__ from perform's signature.
    _perform_signature: ClassVar[inspect.Signature]
    _positional_names: ClassVar[tuple[str, ...]] = ()
    _positional_range: ClassVar[tuple[int, int] | None] = None
    #: perform is ``async def``: it runs on the process's event loop (conveyor.jobs.event_loop).
    _async_perform: ClassVar[bool] = False

    #: 0 (most urgent) to 9 on the class; the resolved priority on an enqueued or running job.
    priority: int | None = None
    #: Callback chains per event, built by Job.__init_subclass__.
    _chains: ClassVar[dict[str, Chain]]
    #: The Celery task running this job, when in a worker.
    _task: Task | None = None
    #: When the worker started running it (``time.monotonic()``): its time limits count from there.
    _started_at: float | None = None
    #: Seconds: the job's coroutine or process is interrupted past them (Celery's task limits; None: the app's).
    soft_time_limit: ClassVar[float | None] = None
    time_limit: ClassVar[float | None] = None

    job_id: str
    arguments: tuple[Any, ...]
    keyword_arguments: dict[str, Any]
    executions: int
    exception_executions: dict[str, int]
    queue_name: str | None
    enqueued_at: dt.datetime | None
    scheduled_at: dt.datetime | None
    successfully_enqueued: bool | None
    #: Set when a ``@unique`` job was not enqueued: the id of the job holding its lock.
    duplicate_of: str | None = None
    #: The id of the batch the job is in (enqueued inside ``Batch.jobs()``; ``conveyor.jobs.batch``), or None.
    batch_id: str | None = None
    #: The batch whose block this job was enqueued in, until it is sent (it registers the job first).
    _batch: OpenBatch | None = None
    #: How this execution ended, for its batch, when not by returning or raising (discarded, retried).
    _batch_outcome: str | None = None
    #: True once ``@unique``, ``@limits_concurrency`` or ``@throttle`` is declared (conveyor.jobs.controls).
    _controlled: ClassVar[bool] = False
    _options: EnqueueOptions
    _serialized: tuple[list[Any], dict[str, Any]] | None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        type(self)._check_arguments(args, kwargs)
        self.arguments = args
        self.keyword_arguments = kwargs
        self.job_id = str(uuid.uuid4())
        self.executions = 0
        self.exception_executions = {}
        self.queue_name = None
        self.enqueued_at = None
        self.scheduled_at = None
        self.successfully_enqueued = None
        self._options = {}
        self._serialized = None

    #: Times a continuable job was resumed (conveyor.jobs.continuable); its progress as received.
    resumptions: int = 0
    _progress: Any = None
    _continuation: Any = None
    #: On a retry: the error it is retried for, sent in the header (conveyor.jobs.execution sets it).
    _retry_error: str | None = None
    _retry_attempt: tuple[int, int | None] | None = None  # (next attempt, of how many): the Retries page

    def _progress_on_wire(self) -> dict[str, Any] | None:
        """The progress to send with the job: this execution's, else the one it arrived with."""
        continuation = self._continuation
        if continuation is not None and (continuation.completed or continuation.current is not None):
            return continuation.to_wire()  # type: ignore[no-any-return]
        return self._progress if self._progress else None

    if TYPE_CHECKING:  # provided by Job and the other mixins

        def perform(self, *args: Any, **kwargs: Any) -> Any: ...
        def perform_now(self) -> Any: ...
        def enqueue(self, **options: Any) -> Any: ...
        @property
        def continuation(self) -> Any: ...
        def _resolve_queue(self, explicit: str | None, default: str) -> str: ...
        def _declared_priority(self) -> Any: ...
        def _resolve_destination(self, options: EnqueueOptions, settings: Settings) -> None: ...
        def _header(self) -> JobHeader: ...

    @classmethod
    def _inspect_perform(cls) -> None:
        perform = cls.perform
        # async def perform runs on the process's event loop (conveyor.jobs.execution, .event_loop).
        cls._async_perform = inspect.iscoroutinefunction(perform)
        if inspect.isasyncgenfunction(perform) or inspect.isgeneratorfunction(perform):
            raise DeclarationError(
                f"{cls.__qualname__}.perform yields: a job's perform returns its result (def or async def); "
                "to work in steps that survive a restart, use self.step(...) (continuations)"
            )
        signature = inspect.signature(perform)
        parameters = list(signature.parameters.values())[1:]  # without self
        # Shown in TypeErrors without annotations: they are strings under `from __future__ import annotations`.
        cls._perform_signature = signature.replace(
            parameters=[p.replace(annotation=inspect.Parameter.empty) for p in parameters],
            return_annotation=inspect.Signature.empty,
        )
        positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
        cls._positional_names = tuple(p.name for p in parameters if p.kind in positional)
        # Fast path for the common signature (no *args, **kwargs or keyword-only): a length check.
        if all(p.kind in positional for p in parameters):
            required = sum(1 for p in parameters if p.default is inspect.Parameter.empty)
            cls._positional_range = (required, len(parameters))
        else:
            cls._positional_range = None

    @classmethod
    def _check_arguments(cls, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        bounds = cls._positional_range
        if bounds is not None and not kwargs and bounds[0] <= len(args) <= bounds[1]:
            return
        try:
            cls._perform_signature.bind(*args, **kwargs)
        except TypeError as exc:
            raise TypeError(f"{cls.__qualname__}: {exc} (perform{cls._perform_signature})") from None

    @property
    def async_result(self) -> Any:
        """Celery's ``AsyncResult`` for this job (state, ``get()``), from the app's result backend.

        Only for a job that stores its result (``store_result = True``, or ``conveyor_store_results``):
        otherwise ``get()`` would wait for a result that is never written, so this raises
        ``ResultNotStoredError`` naming the fix.
        """
        app = current_app()
        if not type(self)._stores_result(app):
            name = type(self).__qualname__
            raise ResultNotStoredError(
                f"{name} stores no result, so job.async_result would wait forever: declare store_result = True on "
                f"{name}, or configure conveyor_store_results=True for every job of the app"
            )
        return app.AsyncResult(self.job_id)

    @classmethod
    def _stores_result(cls, app: Any) -> bool:
        declared = cls.store_result
        return settings_for(app).store_results if declared is None else declared

    @cached_property
    def logger(self) -> JobLogger:
        """A logger tagging every record with the job class and job id."""
        return JobLogger(logging.getLogger(type(self).__module__), type(self).__name__, self.job_id)

    def _logs_arguments(self) -> bool:
        declared = type(self).log_arguments
        if declared is not None:
            return declared
        return settings_for(current_app()).log_arguments

    def _arguments_repr(self) -> str:
        parts = [repr(arg) for arg in self.arguments]
        parts += [f"{key}={arg!r}" for key, arg in self.keyword_arguments.items()]
        return ", ".join(parts)

    def __repr__(self) -> str:
        return f"<{type(self).__qualname__} job_id={self.job_id!r} arguments=({self._arguments_repr()})>"
