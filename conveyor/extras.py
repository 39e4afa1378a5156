"""Optional parts and the extra that installs each: a missing one fails with the install command.

``pip install conveyor`` brings the Job API, the broker layer, the schedule and mailers;
the Flower pages and the SQLAlchemy integration need extras.

Example::

    require_extra("flower", "flower", "tornado")
    # MissingExtraError: conveyor.web needs flower, which is not installed:
    #   pip install 'conveyor[flower]'
"""

from __future__ import annotations

import importlib.util

from conveyor.errors import MissingExtraError

__all__ = ["require_extra"]


def require_extra(extra: str, *modules: str) -> None:
    """Raise ``MissingExtraError`` naming ``conveyor[extra]`` if any of ``modules`` is not installed."""
    missing = [name for name in modules if importlib.util.find_spec(name) is None]
    if missing:
        raise MissingExtraError(
            f"this part of conveyor needs {', '.join(missing)}, which is not installed: pip install 'conveyor[{extra}]'"
        )
