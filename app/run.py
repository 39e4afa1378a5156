"""``make run``: worker, beat and Flower together (honcho and the Procfile), with a Flower login.

Run by ``make run`` under ``conveyor.devserver`` (which chose the Redis); ``make flower`` runs
``python -m app.run flower``, Flower alone with the same login. Without
``FLOWER_BASIC_AUTH``, a login is generated once into ``var/flower-login`` and
reused. Prints Flower's URL and login, then runs honcho on ``Procfile.dev`` (the worker
restarts when ``tasks/``, ``app/`` or ``config/`` change) through ``conveyor.procfile``: Ctrl-C
or SIGTERM stops every process (the worker with a warm shutdown), and when a process fails
and stops the others, the last thing printed says which one and its last lines.
"""

from __future__ import annotations

import os
import secrets
import shutil
import sys
from pathlib import Path

from config.settings import settings
from conveyor.private_files import private_dir
from conveyor.procfile import ReadyLine, run_procfile
from conveyor.web.secrets import read_or_create

LOGIN_FILE = Path("var/flower-login")


def flower_login() -> str | None:
    """The login Flower will use: FLOWER_BASIC_AUTH, else the one kept in var/flower-login."""
    if settings.flower_logins:
        return settings.flower_logins[0]
    if settings.flower_unauthenticated:
        return None
    # Created 0600 in one step (never readable by others, even for a moment), narrowed if it was wider.
    return read_or_create(LOGIN_FILE, lambda: f"admin:{secrets.token_urlsafe(12)}")


def main(argv: list[str] | None = None) -> None:
    """``make run`` (worker, beat and Flower through honcho), or ``make flower`` (``flower``: Flower alone)."""
    only_flower = (sys.argv[1:] if argv is None else argv) == ["flower"]
    private_dir("var")  # the development Redis' data, the login, mail files, SQLite: owner-only
    env = dict(os.environ)
    login = flower_login()
    if login and not settings.flower_logins:
        env["FLOWER_BASIC_AUTH"] = login
    bin_dir = str(Path(sys.executable).parent)
    env["PATH"] = bin_dir + os.pathsep + env.get("PATH", "")
    user, _, password = (login or "").partition(":")
    print(f"conveyor: Flower at http://{settings.flower_address}:{settings.flower_port}/", flush=True)
    print(
        f"conveyor: Flower login: {user} / {password}" if login else "conveyor: Flower runs WITHOUT login", flush=True
    )
    if only_flower:  # the same login as make run's, from var/flower-login
        os.execvpe(sys.executable, [sys.executable, "-m", "celery", "-A", "app", "flower"], env)
    honcho = shutil.which("honcho", path=env["PATH"])
    if honcho is None:
        raise SystemExit("honcho is not installed: run `make install`")
    procfile = "Procfile.dev" if Path("Procfile.dev").exists() else "Procfile"
    where = f"http://{settings.flower_address}:{settings.flower_port}/"
    ready = ReadyLine(
        f"conveyor: ready: Flower at {where} (login {user} / {password}); Ctrl-C stops everything"
        if login
        else f"conveyor: ready: Flower at {where} (WITHOUT login); Ctrl-C stops everything",
        {"worker": " ready.", "flower": "Visit me at"},
    )
    raise SystemExit(run_procfile(honcho, procfile, env, ready=ready))


if __name__ == "__main__":
    main()
