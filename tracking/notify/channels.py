"""Send one rendered message: email through the standard-library SMTP client, or a JSON webhook."""

from __future__ import annotations

import hashlib
import json
import smtplib
import ssl
import urllib.error
import urllib.request
from email.message import EmailMessage
from email.utils import formatdate

from tracking.notify.render import Message
from tracking.settings import Settings


class DeliveryFailed(Exception):
    """The receiver did not accept the message; it will be retried with backoff."""


def message_id(dedupe_key: str) -> str:
    return f"<{hashlib.sha256(dedupe_key.encode()).hexdigest()[:40]}@breast-workup>"


def send_email(settings: Settings, recipient: str, message: Message, dedupe_key: str) -> None:
    email = EmailMessage()
    email["From"] = settings.mail_from
    email["To"] = recipient
    email["Subject"] = message.subject
    email["Date"] = formatdate(localtime=False)
    email["Message-ID"] = message_id(dedupe_key)  # lets receivers drop a redelivery after a crash
    email.set_content(message.body)
    try:
        if settings.smtp_ssl:
            client = smtplib.SMTP_SSL(
                settings.smtp_host, settings.smtp_port, timeout=settings.smtp_timeout_seconds,
                context=ssl.create_default_context(),
            )  # fmt: skip
        else:
            client = smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=settings.smtp_timeout_seconds)
        with client:
            if settings.smtp_starttls and not settings.smtp_ssl:
                client.starttls(context=ssl.create_default_context())
            if settings.smtp_user:
                client.login(settings.smtp_user, settings.smtp_password or "")
            client.send_message(email)
    except (OSError, smtplib.SMTPException) as error:
        raise DeliveryFailed(
            f"SMTP {settings.smtp_host}:{settings.smtp_port}: {type(error).__name__}: {error}"
        ) from None


def send_webhook(settings: Settings, url: str, message: Message, dedupe_key: str) -> None:
    request = urllib.request.Request(
        url,
        data=json.dumps(message.webhook_payload, default=str).encode(),
        method="POST",
        headers={
            "Content-Type": "application/json",
            "Idempotency-Key": hashlib.sha256(dedupe_key.encode()).hexdigest(),
            "User-Agent": "breast-workup",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=settings.webhook_timeout_seconds) as response:
            if not 200 <= response.status < 300:
                raise DeliveryFailed(f"webhook answered HTTP {response.status}")
    except urllib.error.HTTPError as error:
        raise DeliveryFailed(f"webhook answered HTTP {error.code}") from None
    except (OSError, urllib.error.URLError) as error:
        raise DeliveryFailed(f"webhook unreachable: {type(error).__name__}: {error}") from None
