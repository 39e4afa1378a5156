"""Celery's Redis result backend, storing a job's result in one round trip instead of two.

Before it writes a result, Celery reads the one stored (``GET``), so that a job run twice (a
lost worker, a network split) cannot overwrite a ``SUCCESS``; then it writes the result and
publishes it to waiting ``get()`` callers (``MULTI SETEX PUBLISH EXEC``). That is two round trips
a pool process waits for after every job. Here one Lua script does the same three steps, and
atomically (Celery's read-then-write leaves a window where two writers both see no success).
Keys, values, expiry, the publish, and everything that reads results are Celery's own.

``conveyor.configure`` makes this the backend of ``redis://`` and ``rediss://`` result URLs for
its app only (the app loader's ``override_backends``), so ``result_backend`` stays a URL.

Example::

    app = conveyor.configure(Celery("app"), result_backend="redis://127.0.0.1:6379/0")
    type(app.backend)   # conveyor.broker.results.RedisBackend
"""

from __future__ import annotations

from typing import Any

from celery import states
from celery.backends.redis import RedisBackend as CeleryRedisBackend
from celery.exceptions import BackendStoreError
from kombu.utils.encoding import bytes_to_str

from conveyor.broker.scripts import Script

__all__ = ["BACKEND", "RedisBackend"]

#: What ``override_backends`` maps the ``redis`` and ``rediss`` schemes to.
BACKEND = "conveyor.broker.results:RedisBackend"

# A stored SUCCESS is never overwritten (Celery's rule): lua/store_result.lua.
_STORE = Script("store_result")


class RedisBackend(CeleryRedisBackend):  # type: ignore[misc]
    """Celery's Redis backend; ``store_result`` is one script call (read, write, publish)."""

    def _store_result(
        self, task_id: Any, result: Any, state: str, traceback: Any = None, request: Any = None, **kwargs: Any
    ) -> Any:
        if self.serializer != "json":  # the script reads the stored status as JSON
            return super()._store_result(task_id, result, state, traceback=traceback, request=request, **kwargs)
        meta = self._get_result_meta(result=result, state=state, traceback=traceback, request=request)
        meta["task_id"] = bytes_to_str(task_id)
        value = self.encode(meta)
        if isinstance(value, str) and len(value) > self._MAX_STR_VALUE_SIZE:
            raise BackendStoreError("value too large for Redis backend", state=state, task_id=task_id)
        expires = self.failure_expires if state == states.FAILURE else self.expires
        key = self.get_key_for_task(task_id)
        self.ensure(self._store, (key, value, int(expires or 0)))
        return result

    def _store(self, key: Any, value: Any, expires: int) -> Any:
        return _STORE(self.client, keys=[bytes_to_str(key)], args=[value, expires])
