"""E-mail channel: SMTP with STARTTLS and login from Config."""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from ..config import Config
from .model import Alert


class NotConfigured(Exception):
    """The channel has no settings: skipped, not failed."""


def build_message(config: Config, alert: Alert) -> EmailMessage:
    message = EmailMessage()
    message["From"] = config.smtp_sender
    message["To"] = ", ".join(config.alert_email_to)
    message["Subject"] = alert.email_subject()
    message["Date"] = formatdate(localtime=True)
    message["Message-ID"] = make_msgid(domain=config.smtp_sender.rpartition("@")[2] or None)
    message["X-Alert-Severity"] = alert.severity
    message.set_content(alert.email_body())
    return message


def send_email(config: Config, alert: Alert) -> str:
    """Deliver one alert by e-mail; raises on failure. Returns a short delivery note."""
    if not config.smtp_host or not config.alert_email_to:
        raise NotConfigured("smtp_host or alert_email_to not set")
    timeout = config.alert_timeout_seconds
    with smtplib.SMTP(config.smtp_host, config.smtp_port, timeout=timeout) as smtp:
        smtp.ehlo()
        if config.smtp_starttls:
            cafile = str(config.smtp_ca_file) if config.smtp_ca_file else None
            smtp.starttls(context=ssl.create_default_context(cafile=cafile))
            smtp.ehlo()
        if config.smtp_user:
            smtp.login(config.smtp_user, config.smtp_password)
        refused = smtp.send_message(build_message(config, alert))
    if refused:
        raise smtplib.SMTPRecipientsRefused(refused)
    return f"sent to {len(config.alert_email_to)} recipient(s)"
