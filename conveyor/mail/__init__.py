"""Mailers (``mailer``) and their delivery backends (``delivery``): ActionMailer's ``deliver_later``."""

__all__: list[str] = []  # the modules are the API: import from them
