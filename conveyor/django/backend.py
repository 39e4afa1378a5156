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

A ``@task`` is sent as a ``DjangoTaskJob`` whose job id is the result id. In the worker the
function is found in a registry filled when its module is imported (``conveyor.django``
imports each installed app's ``tasks`` module), never by importing a path read from Redis: a
message naming a function this worker does not know fails into the dead set. The three signals
fire where Django's own backends fire them: ``task_enqueued`` in the enqueuing process,
``task_started`` and ``task_finished`` in the worker. ``aenqueue`` runs ``enqueue`` in a thread
(Django's default), so it never blocks the event loop.

``Task.enqueue`` sends at once, also inside ``transaction.atomic()``, as Django's backends do
(Django's documented way is ``transaction.on_commit(partial(task.enqueue, ...))``); conveyor's
jobs are the ones held until commit.

Example::

    @task(priority=100, queue_name="high_priority")
    def send_invoice(invoice_id: int) -> str: ...

    result = send_invoice.enqueue(42)           # on conveyor's workers
    result.refresh(); result.status             # READY, RUNNING, SUCCESSFUL or FAILED
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import socket
import traceback
from typing import Any

from conveyor.django import tasks_api
from conveyor.errors import DeserializationError
from conveyor.jobs.app_lookup import current_app
from conveyor.jobs.job import Job
from conveyor.keys import DJANGO_RESULT_PREFIX
from conveyor.settings import redis_client

__all__ = ["ConveyorBackend", "DjangoTaskJob", "conveyor_priority"]

#: Seconds a result is kept after its last change, unless ``OPTIONS["RESULT_TTL"]`` says otherwise.
RESULT_TTL_S = 86_400

#: Every ``@task`` function of a conveyor backend this process has imported, by module path.
_registry: dict[str, Any] = {}


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


class ConveyorBackend(tasks_api.BaseTaskBackend):  # type: ignore[misc]
    """A ``TASKS`` backend whose tasks run on conveyor's workers (see the module's documentation)."""

    supports_defer = True
    supports_async_task = True
    supports_get_result = True
    supports_priority = True

    def __init__(self, alias: str, params: dict[str, Any]) -> None:
        super().__init__(alias, params)
        self.result_ttl = int(self.options.get("RESULT_TTL", RESULT_TTL_S))

    def validate_task(self, task: Any) -> None:
        super().validate_task(task)
        _registry.setdefault(task.module_path, task)  # at import (the decorator), in every process

    def enqueue(self, task: Any, args: Any, kwargs: Any) -> Any:
        self.validate_task(task)
        args, kwargs = tasks_api.normalize_json(list(args)), tasks_api.normalize_json(dict(kwargs))  # as Django does
        job = DjangoTaskJob(task.module_path, args, kwargs, self.alias)
        now = dt.datetime.now(dt.UTC)
        result = self._result(task, job.job_id, {"status": "READY", "enqueued_at": now.isoformat()}, args, kwargs)
        record = {
            "path": task.module_path,
            "status": "READY",
            "enqueued_at": now.isoformat(),
            "args": json.dumps(result.args),
            "kwargs": json.dumps(result.kwargs),
        }
        client = redis_client(current_app())
        try:
            with client.pipeline(transaction=False) as pipe:
                key = DJANGO_RESULT_PREFIX + job.job_id
                pipe.hset(key, mapping=record)
                pipe.expire(key, self.result_ttl)
                pipe.execute()
        finally:
            client.close()
        options: dict[str, Any] = {"queue": task.queue_name, "after_commit": False}
        priority = conveyor_priority(task.priority)
        if priority is not None:
            options["priority"] = priority
        if task.run_after is not None:
            options["wait_until"] = task.run_after
        job.enqueue(**options)
        tasks_api.task_enqueued.send(type(self), task_result=result)
        return result

    def get_result(self, result_id: str) -> Any:
        client = redis_client(current_app())
        try:
            with client.pipeline(transaction=False) as pipe:
                key = DJANGO_RESULT_PREFIX + result_id
                pipe.hgetall(key)
                pipe.lrange(key + ":workers", 0, -1)
                pipe.lrange(key + ":errors", 0, -1)
                raw, workers, errors = pipe.execute()
        finally:
            client.close()
        record = {k.decode(): v.decode() for k, v in raw.items()}
        task = _registry.get(record.get("path", ""))
        if not record or task is None:
            raise tasks_api.TaskResultDoesNotExist(result_id)
        record["worker_ids"] = [w.decode() for w in workers]
        record["errors"] = [json.loads(e) for e in errors]
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


class DjangoTaskJob(Job):
    """Runs one ``@task`` function on a conveyor worker, recording its ``TaskResult`` as Django's backends do."""

    def perform(self, path: str, args: list[Any], kwargs: dict[str, Any], alias: str) -> None:
        task = _registry.get(path)
        if task is None:
            raise DeserializationError(
                f"{path!r} is not a @task function this worker knows (tasks are found among the installed apps' "
                "tasks modules, never imported by the name a message gives)"
            )
        backend = tasks_api.task_backends[alias]
        key = DJANGO_RESULT_PREFIX + self.job_id
        client = redis_client(current_app())
        try:
            self._run(task, backend, key, client, args, kwargs)
        finally:
            client.close()

    def _run(self, task: Any, backend: Any, key: str, client: Any, args: list[Any], kwargs: dict[str, Any]) -> None:
        now = dt.datetime.now(dt.UTC).isoformat()
        with client.pipeline(transaction=False) as pipe:
            pipe.hset(key, mapping={"status": "RUNNING", "started_at": now, "last_attempted_at": now})
            pipe.hdel(key, "finished_at", "return_value")
            pipe.rpush(key + ":workers", f"{socket.gethostname()}:{os.getpid()}")
            for name in (key, key + ":workers", key + ":errors"):
                pipe.expire(name, backend.result_ttl)
            pipe.execute()
        started = backend.get_result(self.job_id)
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
            self._finish(client, key, backend, {"status": "FAILED"}, error)
            tasks_api.task_finished.send(type(backend), task_result=backend.get_result(self.job_id))
            raise  # the job fails: Celery's FAILURE, the dead set (Retry there runs it again: attempt 2)
        self._finish(client, key, backend, {"status": "SUCCESSFUL", "return_value": returned}, None)
        tasks_api.task_finished.send(type(backend), task_result=backend.get_result(self.job_id))

    @staticmethod
    def _finish(client: Any, key: str, backend: Any, fields: dict[str, str], error: dict[str, str] | None) -> None:
        with client.pipeline(transaction=False) as pipe:
            pipe.hset(key, mapping={**fields, "finished_at": dt.datetime.now(dt.UTC).isoformat()})
            if error is not None:
                pipe.rpush(key + ":errors", json.dumps(error))
            for name in (key, key + ":workers", key + ":errors"):
                pipe.expire(name, backend.result_ttl)
            pipe.execute()
