"""Secrets kept in files (Flower's cookie secret, ``make run``'s login): created atomically, readable by the owner only.

The file is created with ``O_CREAT | O_EXCL`` and mode 0600 in one call, so there is no moment
when it exists with wider permissions, and two processes starting at once agree on one value.
An existing file readable by others is narrowed to 0600 (a 0644 file from an older version).

Example::

    secret = read_or_create(Path("var/flower-cookie-secret"), lambda: secrets.token_hex(32))
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Callable
from pathlib import Path

__all__ = ["read_or_create"]

logger = logging.getLogger("conveyor.web.secrets")


def read_or_create(path: Path, make: Callable[[], str]) -> str:
    """The secret in ``path``; made with ``make()`` and written 0600 if the file does not exist."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            path.chmod(0o600)
            logger.warning("conveyor: %s was readable by others (mode %o); narrowed to 0600", path, mode)
        return path.read_text(encoding="utf-8").strip()
    value = make()
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        file.write(value + "\n")
    return value
