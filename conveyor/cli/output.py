"""What the ``jobs`` commands share: a Redis client for one command, and durations in words.

Example::

    running = with_redis(ctx, busy)            # the broker's Redis, closed afterwards
    click.echo(duration(754.0))                # "12m34s"
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from conveyor.durations import duration
from conveyor.jobs.logs import printable

__all__ = ["duration", "printable", "with_redis"]

T = TypeVar("T")


def with_redis(ctx: click.Context, use: Callable[[Any], T]) -> T:
    """``use(client)`` with a client of the app's broker Redis, closed afterwards."""
    from conveyor.settings import redis_client

    client = redis_client(ctx.obj.app)
    try:
        return use(client)
    finally:
        client.close()
