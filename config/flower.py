"""Flower's configuration (read through ``flowerconfig.py`` by ``celery -A app flower``, from any directory).

Binds 127.0.0.1, requires a login (``FLOWER_BASIC_AUTH``, or Flower's OAuth with
``FLOWER_AUTH``; refuses to start without one unless ``FLOWER_UNAUTHENTICATED=1``), signs
cookies with a random secret kept 0600 in ``var/flower-cookie-secret`` (or
``FLOWER_COOKIE_SECRET``), and adds conveyor's pages and queue-depth metrics. Names below
are Flower options. ``app/celery.py`` points Flower at this file wherever it starts.
"""

from __future__ import annotations

from pathlib import Path

from config.settings import settings
from conveyor.web.flower import cookie_secret as make_cookie_secret
from conveyor.web.flower import install, require_login

SERVICE_ROOT = Path(__file__).resolve().parents[1]

address = settings.flower_address
port = settings.flower_port
basic_auth = require_login(
    settings.flower_logins, open_ok=settings.flower_unauthenticated, oauth=bool(settings.flower_auth)
)
# The Tasks page shows each job's arguments (Flower's default columns leave them out); a job with
# log_arguments = False shows [FILTERED], as in the logs.
tasks_columns = "name,uuid,state,args,kwargs,received,runtime,worker"
cookie_secret = make_cookie_secret(
    settings.flower_cookie_secret,
    Path(settings.flower_cookie_secret_file or SERVICE_ROOT / "var" / "flower-cookie-secret"),
)

install()
