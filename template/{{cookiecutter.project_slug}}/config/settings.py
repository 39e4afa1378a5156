"""Service settings, from environment variables or a ``.env`` file (pydantic-settings).

Every setting is an environment variable (or a line in ``.env``) of the same name:

``APP_ENV``: development (default), test or production.
``REDIS_URL``: broker and result backend by default; redis://127.0.0.1:6379/0. Behind Sentinel:
``redis+sentinel://[:password@]host:port[,host:port…]/service_name[/db]`` (the password is the data
nodes'), with the sentinels' own password in ``REDIS_SENTINEL_PASSWORD``.
``BROKER_URL``, ``RESULT_BACKEND``: Celery's broker and result backend; default ``REDIS_URL``.
``DATABASE_URL``: the service's models ({% if cookiecutter.framework == "django" %}Django's database, read by dj-database-url{% else %}SQLAlchemy{% endif %}); default below.
{%- if cookiecutter.framework == "django" %}
``DJANGO_SECRET_KEY``: Django's SECRET_KEY; required when ``APP_ENV`` is production.
``ALLOWED_HOSTS``: host names Django serves besides 127.0.0.1 and localhost, comma-separated.
{%- endif %}
``WORKER_CONFIG``: queues and concurrency of ``celery worker``; default config/worker.yaml.
``SCHEDULE_FILE``: the cron schedule synced into redbeat by beat; default schedule.yaml.
``TMP_DIR``: temporary files; default var/tmp.
``STORE_RESULTS``: jobs store what they return, for ``job.async_result``; default false (Flower still
shows every job's state, runtime, return value and failure, from task events).
``MAIL_BACKEND``: smtp (default), file (into ``MAIL_FILE_DIR``, default var/mail), console or test.
``MAIL_FROM``: default sender of the mailers; the service's name at noreply@localhost.
``SMTP_HOST`` (default localhost), ``SMTP_PORT``, ``SMTP_USER``, ``SMTP_PASSWORD``, ``SMTP_STARTTLS``,
``SMTP_SSL``, ``SMTP_TIMEOUT`` (seconds, default 10): the SMTP server.
``FLOWER_BASIC_AUTH``: user:password[,user2:password2]; without it Flower refuses to start.
``FLOWER_UNAUTHENTICATED``: run Flower without login, on purpose; default false.
``FLOWER_ADDRESS``, ``FLOWER_PORT``: Flower's bind address and port; default 127.0.0.1:5555.
``FLOWER_AUTH``: Flower's OAuth (a regex of allowed emails, with ``FLOWER_AUTH_PROVIDER`` and
``FLOWER_OAUTH2_*``); counts as a login.
``FLOWER_COOKIE_SECRET``: signs Flower's cookies; default a random one kept in
``FLOWER_COOKIE_SECRET_FILE`` (default ``var/flower-cookie-secret`` in the service's folder, 0600).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings", "settings"]


class Settings(BaseSettings):
    """The service's settings; read once at import as ``settings``."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    app_env: Literal["development", "test", "production"] = "development"
    redis_url: str = "redis://127.0.0.1:6379/0"
    redis_sentinel_password: str | None = Field(default=None, description="the sentinels' own password")
    broker_url: str | None = Field(default=None, description="defaults to REDIS_URL")
    result_backend: str | None = Field(default=None, description="defaults to REDIS_URL")
{%- if cookiecutter.framework == "django" %}
    database_url: str = {% if cookiecutter.database == "postgresql" %}"postgresql://postgres@127.0.0.1:5432/{{ cookiecutter.__db_name }}"{% else %}"sqlite:///var/db.sqlite3"{% endif %}
    django_secret_key: str | None = Field(default=None, description="Django's SECRET_KEY (production: required)")
    allowed_hosts: str = Field(default="", description="comma-separated, besides 127.0.0.1 and localhost")
{%- else %}
    database_url: str = {% if cookiecutter.database == "postgresql" %}"postgresql+psycopg://postgres@127.0.0.1:5432/{{ cookiecutter.__db_name }}"{% else %}"sqlite:///var/app.db"{% endif %}
{%- endif %}
    worker_config: str | None = Field(default=None, description="defaults to config/worker.yaml")
    schedule_file: str | None = Field(default=None, description="defaults to schedule.yaml")
    queue_name_prefix: str | None = Field(default=None, description="queues in Redis are <prefix>_<name>")
    store_results: bool = Field(default=False, description="jobs store their results (job.async_result)")
    tmp_dir: str = "var/tmp"
    mail_backend: Literal["smtp", "file", "console", "test"] = "smtp"
    mail_from: str = "{{ cookiecutter.service_name }} <noreply@localhost>"
    mail_file_dir: str = "var/mail"
    smtp_host: str = "localhost"
    smtp_port: int | None = None
    smtp_user: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = False
    smtp_ssl: bool = False
    smtp_timeout: float = 10.0
    flower_basic_auth: str | None = None
    flower_unauthenticated: bool = False
    flower_address: str = "127.0.0.1"
    flower_port: int = 5555
    flower_cookie_secret: str | None = None
    flower_cookie_secret_file: str | None = None
    flower_auth: str | None = None

    @property
    def flower_logins(self) -> list[str]:
        return [item.strip() for item in (self.flower_basic_auth or "").split(",") if item.strip()]

    @property
    def broker(self) -> str:
        return self.broker_url or self.redis_url

    @property
    def backend(self) -> str:
        return self.result_backend or self.redis_url


settings = Settings()
