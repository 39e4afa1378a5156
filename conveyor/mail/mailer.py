"""Mailers: ``UserMailer.welcome_email(user).deliver_later()`` (ActionMailer on conveyor).

An action is a public method that calls ``self.mail(...)``. Calling it on the
class returns a ``MessageDelivery``; nothing is rendered until it is delivered
or its ``message`` is read. Bodies come from Jinja2 templates
``<template_path>/<mailer_name>/<template>.txt`` and ``.html`` (either or both:
both make a multipart/alternative message); the template sees the action's
arguments by name and the mailer's attributes.

``deliver_later`` enqueues ``MailDeliveryJob`` (queue ``mailers``) with the
mailer, the action and its arguments, not the rendered message: the worker
renders it, so it reflects the data at delivery time, and model arguments
travel by reference like any job argument. SMTP connection errors are retried
with backoff; a message whose every recipient is refused is discarded, logged.

Example::

    class UserMailer(Mailer):
        default_from = "hello@example.com"
        template_path = Path(__file__).parent / "templates"

        def welcome_email(self, user):
            return self.mail(to=user.email, subject="Welcome!", template="welcome_email")

    UserMailer.welcome_email(user).deliver_later()
    UserMailer.welcome_email(user).deliver_later(wait=3600)
    UserMailer.welcome_email(user).deliver_now()
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import inspect
import smtplib
from collections.abc import Callable, Iterable, Mapping
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Any, ClassVar, Concatenate, Generic, ParamSpec, TypeVar, overload

import jinja2

from conveyor.errors import ConveyorError
from conveyor.jobs.app_lookup import current_app
from conveyor.jobs.error_handling import discard_on, polynomially_longer, retry_on
from conveyor.jobs.job import Job
from conveyor.mail.rendering import Attachment, address_list, attach, snake_case, template_environment
from conveyor.settings import MailSettings

__all__ = ["MailDeliveryJob", "Mailer", "MailerError", "MessageDelivery", "action"]


class MailerError(ConveyorError):
    """Raised for a mailer used the wrong way (see the message for the fix)."""


ACCESSED_THEN_LATER = (
    "You've accessed the message before asking to deliver it later, so you may have made local changes "
    "that would be silently lost if we enqueued a job to deliver it. Why? Only the mailer method *arguments* "
    "are passed with the delivery job! Do not access the message in any way if you mean to deliver it later. "
    "Workarounds: 1. don't touch the message before calling deliver_later, or 2. only touch the message "
    "*within your mailer method*, or 3. use deliver_now."
)


M = TypeVar("M", bound="Mailer")
P = ParamSpec("P")


class _Action(Generic[M, P]):
    """Makes ``Mailer.action(*args)`` on the class return a ``MessageDelivery`` (typed: see ``action``)."""

    def __init__(self, function: Callable[Concatenate[M, P], EmailMessage]) -> None:
        self.function = function
        self.name = function.__name__
        self.signature = inspect.signature(function)
        functools.update_wrapper(self, function)  # type: ignore[arg-type]

    @overload
    def __get__(self, instance: None, owner: type[Any]) -> Callable[P, MessageDelivery]: ...
    @overload
    def __get__(self, instance: M, owner: type[Any]) -> Callable[P, EmailMessage]: ...
    def __get__(self, instance: M | None, owner: type[Any]) -> Callable[P, Any]:
        if instance is not None:
            return self.function.__get__(instance, owner)  # type: ignore[no-any-return]

        def deliver(*args: Any, **kwargs: Any) -> MessageDelivery:
            try:
                self.signature.bind(None, *args, **kwargs)
            except TypeError as exc:
                raise TypeError(f"{owner.__qualname__}.{self.name}: {exc}") from None
            return MessageDelivery(owner, self.name, args, kwargs)

        deliver.__name__ = self.name
        deliver.__doc__ = self.function.__doc__
        return deliver


def action(function: Callable[Concatenate[M, P], EmailMessage]) -> _Action[M, P]:
    """Mark a mailer action, so a type checker knows ``Mailer.action(...)`` is a ``MessageDelivery``.

    Optional at run time (every public method of a Mailer is an action); under ``mypy --strict``
    the call on the class type-checks with the action's own parameters, without an ignore.

    Example::

        class ReportMailer(Mailer):
            @action
            def report_ready(self, report: Report, recipient: str) -> EmailMessage:
                return self.mail(to=recipient, subject="Ready", template="report_ready")

        ReportMailer.report_ready(report, "a@example.com").deliver_later()   # MessageDelivery
    """
    return _Action(function)


#: Every Mailer subclass defined in this process, by "<module>.<qualname>" (filled at class definition).
_MAILERS: dict[str, type[Mailer]] = {}


class Mailer:
    """Base class of mailers; public methods are actions (see the module docstring)."""

    #: From address when ``mail(from_=...)`` is not given (else the app's ``conveyor_mail_default_from``).
    default_from: ClassVar[str | None] = None
    #: Folder holding ``<mailer_name>/<template>.txt|.html``.
    template_path: ClassVar[str | Path | None] = None
    #: Folder name of this mailer's templates (default: the class name in snake case).
    template_folder: ClassVar[str | None] = None
    #: Queue of ``deliver_later``.
    delivery_queue: ClassVar[str] = "mailers"

    _context: dict[str, Any]
    _message: EmailMessage | None = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # MailDeliveryJob finds a mailer by this name, never by importing what a message says.
        _MAILERS[f"{cls.__module__}.{cls.__qualname__}"] = cls
        for name, value in list(vars(cls).items()):
            if inspect.isfunction(value) and not name.startswith("_") and name not in vars(Mailer):
                setattr(cls, name, _Action(value))  # an undecorated action: the same at run time

    def mail(
        self,
        *,
        to: str | Iterable[str],
        subject: str,
        template: str | None = None,
        cc: str | Iterable[str] | None = None,
        bcc: str | Iterable[str] | None = None,
        reply_to: str | Iterable[str] | None = None,
        from_: str | None = None,
        attachments: Mapping[str, Attachment] | None = None,
        text: str | None = None,
        html: str | None = None,
        headers: Mapping[str, str] | None = None,
        **variables: Any,
    ) -> EmailMessage:
        """Build the message; call it from an action and return its result.

        ``template`` names ``<template>.txt`` and/or ``<template>.html`` in this
        mailer's template folder (``text=``/``html=`` give bodies directly).
        ``attachments`` maps file names to content (bytes or str) or to
        ``(content, "type/subtype")``. ``variables`` are added to the template context.
        """
        message = EmailMessage()
        sender = from_ or self.default_from or MailSettings.from_conf(current_app().conf).default_from
        if not sender:
            raise MailerError(
                f"{type(self).__qualname__} has no sender: pass from_=..., set default_from on the mailer, "
                "or set conveyor_mail_default_from on the app"
            )
        message["From"] = sender
        message["To"] = address_list(to)
        for header, value in (("Cc", cc), ("Bcc", bcc), ("Reply-To", reply_to)):
            if value:
                message[header] = address_list(value)
        message["Subject"] = subject
        message["Date"] = formatdate(localtime=False, usegmt=True)
        message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2].strip(">") or None)
        for header, value in (headers or {}).items():
            message[header] = value
        context = {**vars(self), **self._context, **variables}
        if template is not None:
            text = text if text is not None else self._render(f"{template}.txt", context)
            html = html if html is not None else self._render(f"{template}.html", context)
            if text is None and html is None:
                folder = Path(self._template_root(), self._folder())
                raise MailerError(f"no template {template}.txt or {template}.html in {folder}")
        if text is not None:
            message.set_content(text)
            if html is not None:
                message.add_alternative(html, subtype="html")
        elif html is not None:
            message.set_content(html, subtype="html")
        for filename, attachment in (attachments or {}).items():
            attach(message, filename, attachment)
        self._message = message
        return message

    @classmethod
    def _folder(cls) -> str:
        return cls.template_folder or snake_case(cls.__name__)

    @classmethod
    def _template_root(cls) -> str:
        if cls.template_path is None:
            raise MailerError(f"{cls.__qualname__}.template_path is not set: give the folder holding its templates")
        return str(cls.template_path)

    def _render(self, name: str, context: dict[str, Any]) -> str | None:
        environment = template_environment(self._template_root())
        try:
            template = environment.get_template(f"{self._folder()}/{name}")
        except jinja2.TemplateNotFound:
            return None
        return template.render(context)


class MessageDelivery:
    """A mailer action called with its arguments; ``deliver_now`` or ``deliver_later`` it."""

    def __init__(self, mailer: type[Mailer], action: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        self.mailer, self.action, self.args, self.kwargs = mailer, action, args, kwargs
        self._rendered = False
        self._message: EmailMessage | None = None

    @property
    def message(self) -> EmailMessage | None:
        """The rendered message (None if the action did not call ``mail``); renders on first access."""
        if not self._rendered:
            instance = self.mailer()
            action = inspect.getattr_static(self.mailer, self.action)
            if not isinstance(action, _Action):
                raise MailerError(f"{self.mailer.__qualname__}.{self.action} is not a mailer action")
            bound = action.signature.bind(instance, *self.args, **self.kwargs)
            bound.apply_defaults()
            instance._context = {k: v for k, v in bound.arguments.items() if k != "self"}
            result = getattr(instance, self.action)(*self.args, **self.kwargs)
            self._message = result if isinstance(result, EmailMessage) else instance._message
            self._rendered = True
        return self._message

    def deliver_now(self) -> EmailMessage | None:
        """Render and send the message in this process; returns it (None if the action sent nothing)."""
        from conveyor.jobs.logs import logger
        from conveyor.mail.delivery import backend_for

        message = self.message
        if message is None:
            return None
        backend_for(current_app()).send(message)
        logger.info(
            "Delivered mail %s.%s to %s: %r", self.mailer.__qualname__, self.action, message["To"], message["Subject"]
        )
        return message

    def deliver_later(
        self,
        *,
        wait: float | dt.timedelta | None = None,
        wait_until: dt.datetime | None = None,
        queue: str | None = None,
        priority: int | None = None,
    ) -> MailDeliveryJob:
        """Enqueue ``MailDeliveryJob`` with the mailer, action and arguments; returns the job."""
        if self._rendered:
            raise MailerError(ACCESSED_THEN_LATER)
        options: dict[str, Any] = {"queue": queue or self.mailer.delivery_queue}
        for key, value in (("wait", wait), ("wait_until", wait_until), ("priority", priority)):
            if value is not None:
                options[key] = value
        path = f"{self.mailer.__module__}.{self.mailer.__qualname__}"
        job: MailDeliveryJob = MailDeliveryJob.set(**options).perform_later(
            path, self.action, list(self.args), self.kwargs
        )
        return job

    async def adeliver_later(
        self,
        *,
        wait: float | dt.timedelta | None = None,
        wait_until: dt.datetime | None = None,
        queue: str | None = None,
        priority: int | None = None,
    ) -> MailDeliveryJob:
        """``deliver_later`` for async code: the send runs in a thread, the event loop goes on."""
        return await asyncio.to_thread(
            self.deliver_later, wait=wait, wait_until=wait_until, queue=queue, priority=priority
        )

    def __repr__(self) -> str:
        return f"<MessageDelivery {self.mailer.__qualname__}.{self.action}{self.args!r}>"


@retry_on(
    ConnectionError,
    TimeoutError,
    smtplib.SMTPConnectError,
    smtplib.SMTPServerDisconnected,
    wait=polynomially_longer,
    attempts=10,
)
@discard_on(smtplib.SMTPRecipientsRefused)
class MailDeliveryJob(Job):
    """Renders and sends one mailer action in the worker (enqueued by ``deliver_later``)."""

    # Its name since 0.1, when it lived in conveyor/mailer.py: queued and scheduled mails carry it.
    _task_name = "conveyor.mailer.MailDeliveryJob"
    queue_as = "mailers"

    def perform(self, mailer: str, action: str, args: list[Any], kwargs: dict[str, Any]) -> None:
        mailer_class = _MAILERS.get(mailer) if isinstance(mailer, str) else None
        if mailer_class is None:
            raise MailerError(
                f"no Mailer {mailer!r} is defined in this worker: import its module in the worker "
                "(e.g. from app/mailers.py through the app's include list)"
            )
        MessageDelivery(mailer_class, action, tuple(args), kwargs).deliver_now()
