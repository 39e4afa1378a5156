"""The tests' Django settings: the project's, with the environment set first.

pytest-django imports the settings module before any ``conftest.py`` runs, and
``config/settings.py`` reads the environment once, at import: so the tests' Redis database (15 of
the server `make test` selected; the tests may flush it) and ``APP_ENV=test`` are set here,
before ``app.settings`` is imported, never later.
"""

import os
from urllib.parse import urlsplit, urlunsplit

_BASE_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
os.environ["REDIS_URL"] = urlunsplit(urlsplit(_BASE_URL)._replace(path="/15"))
os.environ["APP_ENV"] = "test"

from app.settings import *  # noqa: E402, F403 - after the environment is set
