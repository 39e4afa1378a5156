"""Flower's configuration (read through ``flowerconfig.py`` by ``celery -A app flower``).

Binds 127.0.0.1, requires a login (``FLOWER_BASIC_AUTH``; refuses to start
without one unless ``FLOWER_UNAUTHENTICATED=1``), keeps sessions across restarts
(cookie secret from settings, else derived from the login), and adds conveyor's
Schedule page and queue-depth metrics. Names below are Flower options.
"""

from __future__ import annotations

import hashlib

from config.settings import settings
from conveyor.web.flower import install, require_login

address = settings.flower_address
port = settings.flower_port
basic_auth = require_login(settings.flower_logins, open_ok=settings.flower_unauthenticated)
cookie_secret = (
    settings.flower_cookie_secret or hashlib.sha256(("conveyor-flower:" + ",".join(basic_auth)).encode()).hexdigest()
)

install()
