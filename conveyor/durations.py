"""Durations as people read them, in the two largest units: what the CLI and the Flower pages print.

Example::

    duration(754.0)        # "12m34s"
    duration(200_000)      # "2d07h"
"""

from __future__ import annotations

__all__ = ["duration"]


def duration(seconds: float) -> str:
    """``12s``, ``3m05s``, ``2h07m``, ``2d07h`` (a negative duration reads as ``0s``)."""
    minutes, secs = divmod(max(0, int(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    if days:
        return f"{days}d{hours:02d}h"
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"
