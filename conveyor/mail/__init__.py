"""Mailers (``mailer``) and their delivery backends (``delivery``): ActionMailer's ``deliver_later``."""
