"""Alerts by email: the ``email`` subscription kind, sent through the operator's SMTP server.

The subscription's ``url`` is a ``mailto:`` URL (``mailto:a@example.gov.cn,b@example.gov.cn``);
the SMTP server, its TLS mode and login are the operator's settings (``CITYCREDIT_SMTP_*``),
never the subscriber's, so a subscription cannot point the worker at an arbitrary host. A
message goes through the same outbox as a webhook (order, retries, nothing lost across
restarts); its ``Message-ID`` is the delivery's idempotency key, so a mail client or a
filter can drop the repeat of a retried send. Sent with the standard library's smtplib in a
thread (one short connection per alert; alerts are few), TLS verified against the system's CAs.
"""
from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from email.utils import getaddresses
from typing import Any, Mapping

from citycredit.exceptions import InputError
from citycredit.settings import Settings

from .robots import message_text

MAX_RECIPIENTS = 20
TLS_MODES = ("starttls", "implicit", "none")


def recipients(url: str) -> list[str]:
    """The addresses of a ``mailto:`` URL, or InputError."""
    if not isinstance(url, str) or not url.startswith("mailto:"):
        raise InputError("url: an email subscription needs mailto:address[,address…]")
    body = url[len("mailto:"):]
    if any(c in body for c in "\r\n?") or not body:
        raise InputError("url: mailto: addresses only (no headers, no line breaks)")
    addresses = [addr for _, addr in getaddresses([body])]
    if not addresses or len(addresses) > MAX_RECIPIENTS:
        raise InputError(f"url: 1 to {MAX_RECIPIENTS} addresses, got {len(addresses)}")
    for addr in addresses:
        local, _, domain = addr.partition("@")
        if not local or "." not in domain or " " in addr:
            raise InputError(f"url: {addr!r} is not an email address")
    return addresses


def alert_message(settings: Settings, to: list[str], alerts: list[Mapping[str, Any]], key: str,
                  digest: bool = False) -> EmailMessage:
    title, text = message_text(alerts, settings.desk_url, digest)
    msg = EmailMessage()
    msg["From"] = settings.smtp_from
    msg["To"] = ", ".join(to)
    msg["Subject"] = title if digest else f"{title}：{str(alerts[0].get('title') or '')[:80]}"
    msg["Message-ID"] = f"<{key}@citycredit>"
    msg.set_content(text)
    return msg


def send_alert(settings: Settings, url: str, alerts: list[Mapping[str, Any]], key: str,
               digest: bool = False) -> tuple[bool, str]:
    """One try: (delivered, reason of a failed try). Blocking: run it in a thread."""
    if not settings.smtp_host:
        return False, "no SMTP server: set CITYCREDIT_SMTP_HOST to send email alerts"
    if settings.smtp_tls not in TLS_MODES:
        return False, f"CITYCREDIT_SMTP_TLS must be one of {', '.join(TLS_MODES)}, got {settings.smtp_tls!r}"
    try:
        to = recipients(url)
        msg = alert_message(settings, to, alerts, key, digest)
        context = ssl.create_default_context()
        timeout = settings.webhook_timeout
        smtp = (smtplib.SMTP_SSL(settings.smtp_host, settings.smtp_port, timeout=timeout, context=context)
                if settings.smtp_tls == "implicit" else smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=timeout))
        with smtp:
            if settings.smtp_tls == "starttls":
                smtp.starttls(context=context)  # SMTPNotSupportedError if the server cannot: never sent in clear
            if settings.smtp_username:
                smtp.login(settings.smtp_username, settings.smtp_password)
            refused = smtp.send_message(msg)
    except smtplib.SMTPAuthenticationError as exc:
        return False, f"SMTP login refused ({exc.smtp_code})"
    except (smtplib.SMTPException, OSError, InputError) as exc:
        return False, f"SMTP: {type(exc).__name__}: {str(exc)[:160]}"
    if refused:
        return False, f"SMTP refused {', '.join(sorted(refused))}"
    return True, ""
