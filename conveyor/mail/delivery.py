"""Where mail goes: SMTP, a folder of .eml files, the console, or memory (tests).

The backend is chosen by the app's settings (all optional):

==============================  ============  ============================================
``conveyor_mail_backend``       ``"smtp"``    ``smtp``, ``file``, ``console`` or ``test``
``conveyor_smtp_host``          localhost
``conveyor_smtp_port``          25 (465 with SSL)
``conveyor_smtp_username``      None          login, if given with a password
``conveyor_smtp_password``      None
``conveyor_smtp_starttls``      False         upgrade the connection with STARTTLS
``conveyor_smtp_ssl``           False         connect with implicit TLS (SMTPS)
``conveyor_smtp_timeout``       10            seconds, for connect and each command
``conveyor_mail_file_dir``      var/mail      where the ``file`` backend writes
==============================  ============  ============================================

Example::

    backend_for(app).send(message)
"""

from __future__ import annotations

import contextlib
import smtplib
import ssl
import sys
import threading
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Protocol, TypeVar

from celery import Celery

from conveyor.private_files import private_dir, private_file
from conveyor.settings import MailSettings

__all__ = ["ConsoleBackend", "FileBackend", "MailBackend", "SMTPBackend", "TestBackend", "backend_for", "use_backend"]

B = TypeVar("B", bound="MailBackend")


class MailBackend(Protocol):
    def send(self, message: EmailMessage) -> None:
        """Deliver ``message`` to every recipient in To, Cc and Bcc, or raise."""


class SMTPBackend:
    """Sends through an SMTP server, one connection per message.

    Connection failures raise ``OSError``/``smtplib.SMTPException`` subclasses, which the
    delivery job retries; a refusal of every recipient raises ``SMTPRecipientsRefused``.
    """

    def __init__(
        self,
        host: str = "localhost",
        port: int | None = None,
        username: str | None = None,
        password: str | None = None,
        starttls: bool = False,
        use_ssl: bool = False,
        timeout_s: float = 10.0,
    ) -> None:
        self.host, self.port = host, port or (465 if use_ssl else 25)
        self.username, self.password = username, password
        self.starttls, self.use_ssl, self.timeout_s = starttls, use_ssl, timeout_s

    def send(self, message: EmailMessage) -> None:
        context = ssl.create_default_context()
        client: smtplib.SMTP
        if self.use_ssl:
            client = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout_s, context=context)
        else:
            client = smtplib.SMTP(self.host, self.port, timeout=self.timeout_s)
        with client:
            if self.starttls and not self.use_ssl:
                client.starttls(context=context)
            if self.username and self.password:
                client.login(self.username, self.password)
            refused = client.send_message(message)
        if refused:  # some recipients accepted: the message went out, say who did not get it
            from conveyor.jobs.logs import logger

            logger.warning("SMTP server refused some recipients of %r: %s", message["Subject"], refused)


class FileBackend:
    """Writes each message to ``<directory>/<message id>.eml`` (for development)."""

    def __init__(self, directory: str | Path = "var/mail") -> None:
        self.directory = Path(directory)

    def send(self, message: EmailMessage) -> None:
        private_dir(self.directory)  # mail holds what was sent to people: owner-only, 0700 and 0600
        name = (message["Message-ID"] or "message").strip("<>").replace("/", "_")
        private_file(self.directory / f"{name}.eml", bytes(message))


class ConsoleBackend:
    """Prints each message to standard output (for development)."""

    def send(self, message: EmailMessage) -> None:
        sys.stdout.write(f"{message.as_string()}\n{'-' * 72}\n")
        sys.stdout.flush()


class TestBackend:
    """Keeps messages in ``deliveries`` instead of sending them (the ``deliveries`` fixture)."""

    __test__ = False  # not a pytest test class

    def __init__(self) -> None:
        self.deliveries: list[EmailMessage] = []
        self._lock = threading.Lock()

    def send(self, message: EmailMessage) -> None:
        with self._lock:
            self.deliveries.append(message)


_override: MailBackend | None = None


def backend_for(app: Celery) -> MailBackend:
    """The backend the app's settings choose, unless a test installed one with ``use_backend``."""
    if _override is not None:
        return _override
    mail = MailSettings.from_conf(app.conf)
    kind = mail.backend
    if kind == "smtp":
        return SMTPBackend(
            host=mail.smtp_host,
            port=mail.smtp_port,
            username=mail.smtp_username,
            password=mail.smtp_password,
            starttls=mail.smtp_starttls,
            use_ssl=mail.smtp_ssl,
            timeout_s=mail.smtp_timeout,
        )
    if kind == "file":
        return FileBackend(mail.file_dir)
    if kind == "console":
        return ConsoleBackend()
    if kind == "test":
        return _shared_test_backend
    raise ValueError(f"conveyor_mail_backend must be smtp, file, console or test, got {kind!r}")


_shared_test_backend = TestBackend()


@contextlib.contextmanager
def use_backend(backend: B) -> Iterator[B]:
    """Deliver through ``backend`` inside the block (every thread of the process)."""
    global _override
    previous, _override = _override, backend
    try:
        yield backend
    finally:
        _override = previous
