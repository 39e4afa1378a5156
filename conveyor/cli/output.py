"""What the ``jobs`` commands share: a Redis client for one command, and durations in words.

Example::

    running = with_redis(ctx, busy)            # the broker's Redis, closed afterwards
    click.echo(duration(754.0))                # "12m34s"
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

__all__ = ["duration", "printable", "with_redis"]

T = TypeVar("T")

# C0 and C1 control characters but newline and tab, shown escaped: an error string or a job id
# from a message must not move the cursor, recolour or retitle the operator's terminal.
_CONTROLS = {code: f"\\x{code:02x}" for code in [*range(0x20), *range(0x7F, 0xA0)] if chr(code) not in "\n\t"}


def printable(value: object) -> str:
    """``str(value)`` with terminal control characters escaped (``\x1b[2J`` prints as text).

    Example::

        printable("boom\x1b[2J")   # 'boom\\x1b[2J'
    """
    return str(value).translate(_CONTROLS)


def with_redis(ctx: click.Context, use: Callable[[Any], T]) -> T:
    """``use(client)`` with a client of the app's broker Redis, closed afterwards."""
    from conveyor.settings import redis_client

    client = redis_client(ctx.obj.app)
    try:
        return use(client)
    finally:
        client.close()


def duration(seconds: float) -> str:
    """``12s``, ``3m05s``, ``2h07m``."""
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"
