"""CLI errors in one line: a command that cannot reach the broker says so, without a traceback.

Example::

    $ celery -A app jobs queues          # Redis down
    Error: cannot reach the broker at redis://127.0.0.1:6379/0: ConnectionError: Error 111 connecting ...
"""

from __future__ import annotations

from typing import Any

import click
import redis
from kombu.exceptions import OperationalError

from conveyor.errors import ConveyorError
from conveyor.jobs.logs import one_line
from conveyor.settings import masked_url, settings_for

__all__ = ["OneLineErrors"]

_BROKER_ERRORS = (redis.ConnectionError, redis.TimeoutError, OperationalError, ConnectionError, TimeoutError)


class OneLineErrors(click.Group):
    """A command group whose broker errors and conveyor errors end the command with one line (exit 1)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except _BROKER_ERRORS as exc:
            app = getattr(ctx.obj, "app", None)
            settings = settings_for(app) if app is not None else None
            if settings is not None and settings.sentinel is not None:
                # Which sentinel, password or service is wrong, rather than redis-py's long repr of every client.
                problem = settings.sentinel.problem(settings.redis_connect_timeout, settings.redis_socket_timeout)
                raise click.ClickException(problem or f"{type(exc).__name__}: {one_line(exc)}") from None
            where = f" at {masked_url(app.conf.broker_url)}" if app is not None else ""
            raise click.ClickException(f"cannot reach the broker{where}: {type(exc).__name__}: {exc}") from None
        except ConveyorError as exc:
            raise click.ClickException(str(exc)) from None
