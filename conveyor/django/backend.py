"""``django.tasks`` on conveyor: every ``@task`` function runs on conveyor's workers.

``TASKS = {"default": {"BACKEND": "conveyor.django.backend.ConveyorBackend", "QUEUES": [...]}}``
(on Django 5.2 the ``django_tasks`` backport, same settings). All four ``supports_*`` flags
are true:

- **priority**, mapped the right way round: Django's larger runs sooner (-100…100), conveyor's
  0 is the most urgent (0…9). 100 → 0, 1…100 → 4…0, 0 → the queue's default, -1…-100 → 6…9;
- **run_after** goes through conveyor's scheduled set (``set(wait_until=…)``);
- **queue_name** is a conveyor queue (``QUEUES`` is checked as Django checks it);
- **results**: ``get_result`` returns a true ``TaskResult`` (READY → RUNNING → SUCCESSFUL or
  FAILED, its times, errors with their traceback, worker ids, the return value), kept in Redis
  for ``OPTIONS["RESULT_TTL"]`` seconds (a day); async task functions run with ``async_to_sync``.

Each ``@task`` function gets a job class of its own when it is declared (a ``DjangoTaskJob``
named by the function's module path, with the function's signature): its messages carry the
function's arguments, its job id is the result id, Flower and conveyor's pages show it by its
path, a wrong argument count fails at enqueue, and conveyor's declarations apply to it through
``@task(conveyor=[...])`` (Django 6.1+ and the backport pass extra ``@task`` keywords to the
backend's ``task_class``): ``retry_on`` (a failure with attempts left leaves the result READY,
its error recorded; ``TaskContext.attempt`` counts runs), ``discard_on``, ``unique`` (a
duplicate enqueue returns the result of the job holding the lock), ``limits_concurrency`` and
``throttle``. In the worker the class is found among Celery's registered tasks, filled when
the module is imported (``conveyor.django`` imports each installed app's ``tasks`` module),
never by importing a path read from Redis: a message naming a function this worker does not
know fails into the dead set. The three signals
fire where Django's own backends fire them: ``task_enqueued`` in the enqueuing process,
``task_started`` and ``task_finished`` in the worker. ``aenqueue`` runs ``enqueue`` in a thread
(Django's default), so it never blocks the event loop.

``Task.enqueue`` sends at once, also inside ``transaction.atomic()``, as Django's backends do
(Django's documented way is ``transaction.on_commit(partial(task.enqueue, ...))``); conveyor's
jobs are the ones held until commit.

Example::

    @task(priority=100, queue_name="high_priority", conveyor=[retry_on(TimeoutError, wait=5, attempts=3)])
    def send_invoice(invoice_id: int) -> str: ...

    result = send_invoice.enqueue(42)           # on conveyor's workers
    result.refresh(); result.status             # READY, RUNNING, SUCCESSFUL or FAILED
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import inspect
import json
import math
import os
import socket
import traceback
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

from conveyor.broker.riders import Rider, riding
from conveyor.broker.scripts import Script
from conveyor.django import tasks_api
from conveyor.errors import DeclarationError
from conveyor.jobs.app_lookup import current_app
from conveyor.jobs.error_handling import will_retry
from conveyor.jobs.job import Job
from conveyor.keys import DJANGO_RESULT_PREFIX
from conveyor.settings import redis_client

__all__ = ["ConveyorBackend", "ConveyorTask", "DjangoTaskJob", "conveyor_priority"]

#: Seconds a result is kept after its last change, unless ``OPTIONS["RESULT_TTL"]`` says otherwise.
RESULT_TTL_S = 86_400

#: Every ``@task`` function of a conveyor backend this process has imported, by module path.
_registry: dict[str, Any] = {}
#: The job class of each of them, by module path (its Celery task name).
_jobs: dict[str, type[DjangoTaskJob]] = {}
_START, _FINISH = Script("task_result_start"), Script("task_result_finish")
#: One client per process and app (thread-safe, pooled): an enqueue or a run costs round trips, not connections.
_clients: dict[tuple[int, int], Any] = {}


def _client() -> Any:
    app = current_app()
    key = (os.getpid(), id(app))
    client = _clients.get(key)
    if client is None:
        client = _clients[key] = redis_client(app)
    return client


def conveyor_priority(priority: int) -> int | None:
    """Django's priority (-100…100, larger sooner) as conveyor's (0 most urgent…9; None: the default).

    >>> [conveyor_priority(p) for p in (100, 50, 1, 0, -1, -100)]
    [0, 2, 4, None, 6, 9]
    """
    if priority == 0:
        return None
    if priority > 0:
        return 5 - math.ceil(priority * 5 / int(tasks_api.TASK_MAX_PRIORITY))
    return 5 + math.ceil(priority * 4 / int(tasks_api.TASK_MIN_PRIORITY))


@dataclasses.dataclass(frozen=True, kw_only=True)
class ConveyorTask(tasks_api.Task):  # type: ignore[misc]
    """A ``@task`` of a conveyor backend: Django's ``Task`` plus ``conveyor``, conveyor's declarations.

    Example::

        @task(conveyor=[retry_on(TimeoutError, wait=5, attempts=3), unique(within=600)])
        def import_file(path: str) -> int: ...
    """

    conveyor: Sequence[Callable[[Any], Any]] = ()

    @property
    def job_class(self) -> type[DjangoTaskJob]:
        """The job class this task runs as (``schedule.yaml`` entries naming the function use it)."""
        return _jobs[self.module_path]


class ConveyorBackend(tasks_api.BaseTaskBackend):  # type: ignore[misc]
    """A ``TASKS`` backend whose tasks run on conveyor's workers (see the module's documentation)."""

    task_class = ConveyorTask
    supports_defer = True
    supports_async_task = True
    supports_get_result = True
    supports_priority = True

    def __init__(self, alias: str, params: dict[str, Any]) -> None:
        super().__init__(alias, params)
        self.result_ttl = int(self.options.get("RESULT_TTL", RESULT_TTL_S))

    def validate_task(self, task: Any) -> None:
        super().validate_task(task)
        if task.module_path not in _jobs:  # at import (the decorator), in every process; using() copies share it
            _jobs[task.module_path] = _job_class(task)
            _registry[task.module_path] = task

    def enqueue(self, task: Any, args: Any, kwargs: Any) -> Any:
        self.validate_task(task)
        args, kwargs = tasks_api.normalize_json(list(args)), tasks_api.normalize_json(dict(kwargs))  # as Django does
        job = _jobs[task.module_path](*args, **kwargs)  # a wrong argument count fails here, naming the function
        now = dt.datetime.now(dt.UTC)
        result = self._result(task, job.job_id, {"status": "READY", "enqueued_at": now.isoformat()}, args, kwargs)
        record = {
            "path": task.module_path,
            "backend": self.alias,
            "enqueued_at": now.isoformat(),
            "args": json.dumps(result.args),
            "kwargs": json.dumps(result.kwargs),
        }
        key = DJANGO_RESULT_PREFIX + job.job_id
        # Kept for RESULT_TTL after the run is due, not after the enqueue: a run_after next week still has one
        ttl = self.result_ttl + max(0, math.ceil((task.run_after - now).total_seconds()) if task.run_after else 0)

        def write(pipe: Any) -> None:
            # READY only if absent: a send written twice (kombu's retry) never sets a worker's RUNNING back
            pipe.hsetnx(key, "status", "READY")
            pipe.hset(key, mapping=record)
            pipe.expire(key, ttl)

        options: dict[str, Any] = {"queue": task.queue_name, "after_commit": False}
        priority = conveyor_priority(task.priority)
        if priority is not None:
            options["priority"] = priority
        if task.run_after is not None:
            options["wait_until"] = task.run_after
        rider = Rider(job.job_id, write)  # READY, in the send's own round trip (conveyor.broker.riders)
        with riding(rider):
            job.enqueue(**options)
        if job.successfully_enqueued and not rider.applied:
            # A send that took no rider (the scheduled set, a @unique script): written after it, the same way
            with _client().pipeline(transaction=False) as pipe:
                write(pipe)
                pipe.execute()
        if job.duplicate_of is not None:
            # @unique: the result of the job holding the lock, READY if it has none (yet: sent by beat, or its
            # own record not written yet)
            try:
                return self.get_result(job.duplicate_of)
            except tasks_api.TaskResultDoesNotExist:
                return self._result(task, job.duplicate_of, {"status": "READY"}, args, kwargs)
        tasks_api.task_enqueued.send(type(self), task_result=result)
        return result

    def get_result(self, result_id: str) -> Any:
        record = _record(_client().hgetall(DJANGO_RESULT_PREFIX + result_id))
        task = _registry.get(record.get("path", ""))
        if not record or task is None:
            raise tasks_api.TaskResultDoesNotExist(result_id)
        return self.result_of(task, result_id, record)

    def result_of(self, task: Any, result_id: str, record: dict[str, Any]) -> Any:
        """The ``TaskResult`` a record (the result hash, its worker ids and errors) describes."""
        return self._result(task, result_id, record, json.loads(record["args"]), json.loads(record["kwargs"]))

    def _result(self, task: Any, result_id: str, record: dict[str, Any], args: Any, kwargs: Any) -> Any:
        result = tasks_api.TaskResult(
            task=task,
            id=result_id,
            status=tasks_api.TaskResultStatus[record["status"]],
            enqueued_at=_time(record.get("enqueued_at")),
            started_at=_time(record.get("started_at")),
            finished_at=_time(record.get("finished_at")),
            last_attempted_at=_time(record.get("last_attempted_at")),
            args=list(args),
            kwargs=dict(kwargs),
            backend=self.alias,
            errors=[tasks_api.TaskError(**error) for error in record.get("errors", [])],
            worker_ids=list(record.get("worker_ids", [])),
        )
        if "return_value" in record:
            object.__setattr__(result, "_return_value", json.loads(record["return_value"]))
        return result


def _time(value: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value) if value else None


def _record(raw: Any) -> dict[str, Any]:
    """A result hash as read (HGETALL's dict, or the start script's flat list), decoded; {} if there is none."""
    pairs = raw.items() if isinstance(raw, dict) else zip(raw[::2], raw[1::2], strict=True)
    record: dict[str, Any] = {k.decode(): v.decode() for k, v in pairs}
    if record:
        record["worker_ids"] = json.loads(record.get("worker_ids", "[]"))
        record["errors"] = json.loads(record.get("errors", "[]"))
    return record


class DjangoTaskJob(Job):
    """The base of each ``@task`` function's job class: runs the function, recording its ``TaskResult``."""

    abstract = True
    #: The function's module path: its Celery task name and its key in the registry.
    _django_task_path: ClassVar[str]

    def _run_task(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        path = type(self)._django_task_path
        task = _registry[path]
        key = DJANGO_RESULT_PREFIX + self.job_id
        now = dt.datetime.now(dt.UTC).isoformat()
        ttl = tasks_api.task_backends[task.backend].result_ttl
        worker = f"{socket.gethostname()}:{os.getpid()}"
        # One round trip: RUNNING recorded, and the record returned for the TaskResult the run reports
        arguments = [path, now, worker, json.dumps(list(args)), json.dumps(kwargs), ttl]
        record = _record(_START(_client(), [key], arguments))
        backend = tasks_api.task_backends[record.get("backend", task.backend)]  # using(backend=...) is recorded
        self._run(task, backend, key, record, args, kwargs)

    def _run(
        self, task: Any, backend: Any, key: str, record: dict[str, Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> None:
        started = backend.result_of(task, self.job_id, record)
        tasks_api.task_started.send(type(backend), task_result=started)
        try:
            context = [tasks_api.TaskContext(task_result=started)] if task.takes_context else []
            value = tasks_api.normalize_json(task.call(*context, *args, **kwargs))
            returned = json.dumps(value)
        except KeyboardInterrupt:
            raise
        except BaseException as exc:
            error = {
                "exception_class_path": f"{type(exc).__module__}.{type(exc).__qualname__}",
                "traceback": "".join(traceback.format_exception(exc)),
            }
            if isinstance(exc, Exception) and will_retry(self, exc):
                self._finish(key, backend, record, {"status": "READY"}, error)  # ready to run again
            else:
                finished = self._finish(key, backend, record, {"status": "FAILED", **_finished_now()}, error)
                tasks_api.task_finished.send(type(backend), task_result=backend.result_of(task, self.job_id, finished))
            raise  # conveyor handles it: retry_on, discard_on, or Celery's FAILURE and the dead set
        fields = {"status": "SUCCESSFUL", "return_value": returned, **_finished_now()}
        finished = self._finish(key, backend, record, fields, None)
        tasks_api.task_finished.send(type(backend), task_result=backend.result_of(task, self.job_id, finished))

    @staticmethod
    def _finish(
        key: str, backend: Any, record: dict[str, Any], fields: dict[str, str], error: dict[str, str] | None
    ) -> dict[str, Any]:
        """Write the run's outcome (one round trip); the record as it now is, for the finished signal."""
        pairs = [item for field in fields.items() for item in field]
        _FINISH(_client(), [key], [backend.result_ttl, json.dumps(error) if error else "", *pairs])
        return {**record, **fields, "errors": [*record.get("errors", []), *([error] if error else [])]}


def _finished_now() -> dict[str, str]:
    return {"finished_at": dt.datetime.now(dt.UTC).isoformat()}


def _job_class(task: Any) -> type[DjangoTaskJob]:
    """The job class of ``task``: named by its module path, ``perform`` with the function's signature."""
    function = task.func
    parameters = list(inspect.signature(function).parameters.values())[1 if task.takes_context else 0 :]

    def perform(self: DjangoTaskJob, *args: Any, **kwargs: Any) -> None:
        self._run_task(args, kwargs)

    # What the enqueue checks arguments against, and what unique/limit keys receive by name
    perform.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD), *parameters]
    )
    namespace = {
        "__module__": function.__module__,
        "__qualname__": function.__qualname__,
        "__doc__": function.__doc__,
        "_task_name": task.module_path,
        "_django_task_path": task.module_path,
        "perform": perform,
        # Where a run not enqueued through the backend goes (schedule.yaml, jobs enqueue): the task's own queue.
        # No class priority: enqueue passes the task's (or none for Django's 0, the queue's default), and a
        # class priority would outlive using(priority=0).
        "queue_as": task.queue_name,
    }
    job_class: type[DjangoTaskJob] = type(function.__name__, (DjangoTaskJob,), namespace)
    declarations = getattr(task, "conveyor", ())
    if isinstance(declarations, str) or not isinstance(declarations, Sequence):
        declarations = [declarations]
    for declare in declarations:
        if not callable(declare):
            raise DeclarationError(
                f"@task(conveyor=...) of {task.module_path} takes conveyor's declarations, such as "
                f"[retry_on(TimeoutError, attempts=3), discard_on(ValueError), unique(within=600)]; got {declare!r}"
            )
        job_class = declare(job_class)
    return job_class
