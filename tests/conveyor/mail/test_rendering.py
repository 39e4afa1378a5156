"""``conveyor.mail.rendering``: the template environment, addresses and attachments of a mailer's message."""

from __future__ import annotations

from email.message import EmailMessage
from pathlib import Path

import jinja2
import pytest

from conveyor.mail.rendering import address_list, attach, snake_case, template_environment


def test_a_mailer_class_name_becomes_its_template_folder_name() -> None:
    assert snake_case("UserMailer") == "user_mailer"
    assert snake_case("Mailer") == "mailer"


def test_html_templates_escape_values_and_text_templates_do_not(tmp_path: Path) -> None:
    (tmp_path / "note.html").write_text("<p>{{ name }}</p>\n")
    (tmp_path / "note.txt").write_text("{{ name }}\n")
    environment = template_environment(str(tmp_path))
    assert environment.get_template("note.html").render(name="<b>Ada</b>") == "<p>&lt;b&gt;Ada&lt;/b&gt;</p>\n"
    assert environment.get_template("note.txt").render(name="<b>Ada</b>") == "<b>Ada</b>\n"  # and its last newline


def test_a_misspelt_variable_fails_instead_of_rendering_empty(tmp_path: Path) -> None:
    (tmp_path / "note.txt").write_text("Hello {{ nmae }}")
    with pytest.raises(jinja2.UndefinedError, match="'nmae' is undefined"):
        template_environment(str(tmp_path)).get_template("note.txt").render(name="Ada")


def test_one_environment_serves_each_template_folder(tmp_path: Path) -> None:
    assert template_environment(str(tmp_path)) is template_environment(str(tmp_path))
    assert template_environment(str(tmp_path)) is not template_environment(str(tmp_path / "other"))


def test_recipients_are_a_string_or_a_list_joined_with_commas() -> None:
    assert address_list("ada@example.com") == "ada@example.com"
    assert address_list(["ada@example.com", "bob@example.com"]) == "ada@example.com, bob@example.com"


def attached(filename: str, attachment: bytes | str | tuple[bytes | str, str]) -> EmailMessage:
    message = EmailMessage()
    message.set_content("body")
    attach(message, filename, attachment)
    [part] = list(message.iter_attachments())
    return part  # type: ignore[return-value]


def test_an_attachments_type_is_guessed_from_its_name_unless_given() -> None:
    assert attached("report.csv", b"a,b\n").get_content_type() == "text/csv"
    assert attached("report.csv", (b"%PDF", "application/pdf")).get_content_type() == "application/pdf"


def test_an_attachment_of_unknown_type_is_bytes_or_text_by_its_content() -> None:
    data = attached("blob.unknownext", b"\x00\x01")
    assert data.get_content_type() == "application/octet-stream"
    assert data.get_content() == b"\x00\x01"
    note = attached("note.unknownext", "plain words")
    assert note.get_content_type() == "text/plain"
    assert note.get_filename() == "note.unknownext"
