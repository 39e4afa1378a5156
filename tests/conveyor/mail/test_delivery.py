"""``conveyor.mail.delivery``: the backend the settings choose, the file and console backends, ``use_backend``."""

from __future__ import annotations

from email.message import EmailMessage
from pathlib import Path

import pytest
from celery import Celery

from conveyor.mail import delivery
from conveyor.mail.delivery import ConsoleBackend, FileBackend, SMTPBackend, TestBackend, backend_for, use_backend


def app_with(**settings: object) -> Celery:
    app = Celery("mail-settings", set_as_current=False)
    app.conf.update(settings)
    return app


def message(message_id: str | None = "<one/two@example.com>") -> EmailMessage:
    mail = EmailMessage()
    if message_id:
        mail["Message-ID"] = message_id
    mail["Subject"] = "Report ready"
    mail.set_content("It is ready.")
    return mail


def test_smtp_is_the_default_backend_on_port_25_or_465_with_ssl() -> None:
    plain = backend_for(app_with())
    assert isinstance(plain, SMTPBackend)
    assert (plain.host, plain.port, plain.use_ssl) == ("localhost", 25, False)
    secure = backend_for(app_with(conveyor_smtp_ssl=True, conveyor_smtp_host="smtp.example", conveyor_smtp_timeout=3))
    assert (secure.host, secure.port, secure.use_ssl, secure.timeout_s) == ("smtp.example", 465, True, 3.0)
    assert backend_for(app_with(conveyor_smtp_port="2525")).port == 2525


def test_the_other_backends_are_chosen_by_name(tmp_path: Path) -> None:
    file_backend = backend_for(app_with(conveyor_mail_backend="file", conveyor_mail_file_dir=str(tmp_path)))
    assert isinstance(file_backend, FileBackend)
    assert file_backend.directory == tmp_path
    assert isinstance(backend_for(app_with(conveyor_mail_backend="console")), ConsoleBackend)
    test_backend = backend_for(app_with(conveyor_mail_backend="test"))
    assert isinstance(test_backend, TestBackend)
    assert backend_for(app_with(conveyor_mail_backend="test")) is test_backend  # one, shared


def test_an_unknown_backend_name_says_which_are_accepted() -> None:
    with pytest.raises(ValueError, match=r"^conveyor_mail_backend must be smtp, file, console or test, got 'smpt'$"):
        backend_for(app_with(conveyor_mail_backend="smpt"))


def test_use_backend_overrides_the_settings_inside_the_block_and_nests() -> None:
    app = app_with(conveyor_mail_backend="console")
    outer, inner = TestBackend(), TestBackend()
    with use_backend(outer):
        with use_backend(inner):
            assert backend_for(app) is inner
        assert backend_for(app) is outer
    assert isinstance(backend_for(app), ConsoleBackend)
    assert delivery._override is None


def test_the_file_backend_writes_one_eml_file_per_message_named_by_its_id(tmp_path: Path) -> None:
    backend = FileBackend(tmp_path / "mail")
    backend.send(message())
    [written] = (tmp_path / "mail").iterdir()
    assert written.name == "one_two@example.com.eml"  # the slash cannot make a folder
    assert b"Subject: Report ready" in written.read_bytes()
    backend.send(message(None))
    assert (tmp_path / "mail" / "message.eml").exists()


def test_the_console_backend_prints_the_message_and_a_rule(capsys: pytest.CaptureFixture[str]) -> None:
    ConsoleBackend().send(message())
    printed = capsys.readouterr().out
    assert "Subject: Report ready" in printed
    assert printed.endswith("It is ready.\n\n" + "-" * 72 + "\n")


def test_the_test_backend_keeps_what_it_is_given_in_order() -> None:
    backend, first, second = TestBackend(), message(), message("<2@example.com>")
    backend.send(first)
    backend.send(second)
    assert backend.deliveries == [first, second]
