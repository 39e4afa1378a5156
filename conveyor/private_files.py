"""Folders and files only their owner may read: the development Redis' data, mail written to files, SQLite.

A development Redis keeps every job argument, dead record and backtrace in its AOF files;
mail files hold what was sent; the SQLite file the service's rows. The umask would leave
them readable by every user of the machine, so they are made owner-only (0700 folders,
0600 files) when created, and narrowed when they exist already (left by an older version).

Example::

    private_dir(Path("var/redis"))              # var/redis 0700 (and var/, if it is made here)
    private_file(Path("var/mail/x.eml"), data)  # written 0600
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

__all__ = ["private_dir", "private_file", "tighten"]


def private_dir(path: str | os.PathLike[str]) -> Path:
    """Create ``path`` 0700 (missing parents too), or narrow it to 0700 if it exists; returns it."""
    folder = Path(path)
    missing = [folder, *(parent for parent in folder.parents if not parent.exists())]
    for created in reversed(missing):
        with contextlib.suppress(FileExistsError):
            created.mkdir(mode=0o700)
        if created is not folder:
            tighten(created, 0o700)
    tighten(folder, 0o700)
    return folder


def private_file(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path``, created 0600 (never readable by others, not even for a moment)."""
    target = Path(path)
    descriptor = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as file:
        file.write(data)
    tighten(target, 0o600)
    return target


def tighten(path: str | os.PathLike[str], mode: int) -> None:
    """Narrow ``path`` to ``mode`` if it grants more (never widens it); nothing if it does not exist."""
    try:
        current = stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        return
    if current & ~mode:
        os.chmod(path, current & mode)
