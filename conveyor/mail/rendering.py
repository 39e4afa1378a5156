"""Rendering and assembling a mailer's message: the Jinja environment per template folder, addresses, attachments.

Example::

    template_environment("app/templates/mailers").get_template("user_mailer/welcome.txt").render(name="Ada")
"""

from __future__ import annotations

import functools
import mimetypes
import re
from collections.abc import Iterable
from email.message import EmailMessage

import jinja2

__all__ = ["Attachment", "address_list", "attach", "snake_case", "template_environment"]

Attachment = bytes | str | tuple[bytes | str, str]


def snake_case(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


@functools.lru_cache(maxsize=32)
def template_environment(template_path: str) -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(template_path),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html",), default_for_string=False),
        undefined=jinja2.StrictUndefined,  # a typo in a template fails loudly, not as an empty string
        keep_trailing_newline=True,
    )


def address_list(value: str | Iterable[str]) -> str:
    return value if isinstance(value, str) else ", ".join(value)


def attach(message: EmailMessage, filename: str, attachment: Attachment) -> None:
    content, mimetype = attachment if isinstance(attachment, tuple) else (attachment, None)
    mimetype = (
        mimetype
        or mimetypes.guess_type(filename)[0]
        or ("text/plain" if isinstance(content, str) else "application/octet-stream")
    )
    maintype, _, subtype = mimetype.partition("/")
    if isinstance(content, str):
        message.add_attachment(content, subtype=subtype, filename=filename)
    else:
        message.add_attachment(content, maintype=maintype, subtype=subtype, filename=filename)
