"""Service settings, from environment variables or a ``.env`` file (pydantic-settings).

=================  ==================================  ======================================
variable           default                             used for
=================  ==================================  ======================================
``APP_ENV``        development                         development, test or production
``REDIS_URL``      redis://127.0.0.1:6379/0            broker and result backend by default
``BROKER_URL``     ``REDIS_URL``                       Celery broker
``RESULT_BACKEND`` ``REDIS_URL``                       Celery result backend
``DATABASE_URL``   sqlite:///var/app.db                the service's models (SQLAlchemy)
``WORKER_CONFIG``  config/worker.yaml                  queues and concurrency of ``celery worker``
``SCHEDULE_FILE``  schedule.yaml                       the cron schedule synced into redbeat by beat
``TMP_DIR``        var/tmp                             temporary files; DailyCleanupJob deletes old ones
``MAIL_BACKEND``   smtp                                smtp, file (var/mail), console or test
``MAIL_FROM``      Conveyor <noreply@localhost>        default sender of the mailers
``FLOWER_BASIC_AUTH``  (none: Flower refuses to start)  user:password[,user2:password2]
``FLOWER_UNAUTHENTICATED`` false                       run Flower without login, on purpose
``FLOWER_ADDRESS`` 127.0.0.1                           Flower's bind address
``FLOWER_PORT``    5555                                Flower's port
``FLOWER_COOKIE_SECRET`` derived from the login        keeps Flower sessions across restarts
``SMTP_HOST``      localhost                           SMTP server (also SMTP_PORT, SMTP_USER,
                                                       SMTP_PASSWORD, SMTP_STARTTLS, SMTP_SSL,
                                                       SMTP_TIMEOUT in seconds, default 10)
=================  ==================================  ======================================
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
    broker_url: str | None = Field(default=None, description="defaults to REDIS_URL")
    result_backend: str | None = Field(default=None, description="defaults to REDIS_URL")
    database_url: str = "sqlite:///var/app.db"
    worker_config: str | None = Field(default=None, description="defaults to config/worker.yaml")
    schedule_file: str | None = Field(default=None, description="defaults to schedule.yaml")
    tmp_dir: str = "var/tmp"
    mail_backend: Literal["smtp", "file", "console", "test"] = "smtp"
    mail_from: str = "Conveyor <noreply@localhost>"
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
