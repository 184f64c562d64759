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
from tracking.outages import is_outage
from tracking.settings import Settings


class DeliveryFailed(Exception):
    """The message was not delivered. `outage` says whether the receiver was away (retry without
    counting) or refused it (counts toward dead-letter)."""

    def __init__(self, reason: str, *, outage: bool, final: bool = False):
        super().__init__(reason)
        self.outage = outage
        self.final = final  # trying again cannot help until someone acts: dead-letter at once


PLAIN_SMTP_REFUSAL = (
    "refused to send patient data over plain SMTP: set WORKUP_SMTP_STARTTLS=true (STARTTLS) or "
    "WORKUP_SMTP_SSL=true (implicit TLS); WORKUP_SMTP_CA_FILE names a CA to trust for the server's certificate"
)


def plain_smtp(settings: Settings) -> bool:
    """Whether the SMTP settings would send in clear text (neither STARTTLS nor implicit TLS)."""
    return not (settings.smtp_starttls or settings.smtp_ssl)


def tls_context(settings: Settings) -> ssl.SSLContext:
    """Verifies the server's certificate and name, against the system's CAs and WORKUP_SMTP_CA_FILE."""
    context = ssl.create_default_context()
    if settings.smtp_ca_file is not None:
        context.load_verify_locations(cafile=str(settings.smtp_ca_file))
    return context


def message_id(dedupe_key: str) -> str:
    return f"<{hashlib.sha256(dedupe_key.encode()).hexdigest()[:40]}@breast-workup>"


def send_email(settings: Settings, recipient: str, message: Message, dedupe_key: str) -> None:
    where = f"SMTP {settings.smtp_host}:{settings.smtp_port}"
    try:
        email = EmailMessage()
        email["From"] = settings.mail_from
        email["To"] = recipient
        email["Subject"] = message.subject
        email["Date"] = formatdate(localtime=False)
        email["Message-ID"] = message_id(dedupe_key)  # lets receivers drop a redelivery after a crash
        email.set_content(message.body)
        for attachment in message.attachments:
            email.add_attachment(attachment.content, maintype=attachment.maintype, subtype=attachment.subtype,
                                 filename=attachment.filename)  # fmt: skip
    except (ValueError, TypeError) as error:  # e.g. a line break in an address
        raise DeliveryFailed(f"cannot build the email: {type(error).__name__}: {error}", outage=False) from None
    if message.phi and plain_smtp(settings):
        raise DeliveryFailed(PLAIN_SMTP_REFUSAL, outage=False, final=True)
    try:
        if settings.smtp_ssl:
            client = smtplib.SMTP_SSL(
                settings.smtp_host, settings.smtp_port, timeout=settings.smtp_timeout_seconds,
                context=tls_context(settings),
            )  # fmt: skip
        else:
            client = smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=settings.smtp_timeout_seconds)
        with client:
            if settings.smtp_starttls and not settings.smtp_ssl:
                try:
                    client.starttls(context=tls_context(settings))
                except smtplib.SMTPNotSupportedError:  # never fall back to clear text
                    raise DeliveryFailed(f"{where}: the server does not offer STARTTLS (WORKUP_SMTP_STARTTLS=true)",
                                         outage=False) from None  # fmt: skip
            if settings.smtp_user:
                client.login(settings.smtp_user, settings.smtp_password or "")
            client.send_message(email)
    except smtplib.SMTPRecipientsRefused as error:
        codes = [code for code, _ in error.recipients.values()]
        outage = bool(codes) and all(400 <= code < 500 for code in codes)
        raise DeliveryFailed(f"{where}: recipient refused ({', '.join(map(str, codes))})", outage=outage) from None
    except (OSError, smtplib.SMTPException, ValueError) as error:
        raise DeliveryFailed(f"{where}: {type(error).__name__}: {error}", outage=is_outage(error)) from None


def send_webhook(settings: Settings, url: str, message: Message, dedupe_key: str) -> None:
    try:
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
    except ValueError as error:  # not a URL at all
        raise DeliveryFailed(f"webhook address is not a URL: {error}", outage=False) from None
    try:
        with urllib.request.urlopen(request, timeout=settings.webhook_timeout_seconds) as response:
            if not 200 <= response.status < 300:
                raise DeliveryFailed(f"webhook answered HTTP {response.status}", outage=False)
    except urllib.error.HTTPError as error:
        raise DeliveryFailed(f"webhook answered HTTP {error.code}", outage=is_outage(error)) from None
    except (OSError, ValueError) as error:
        raise DeliveryFailed(f"webhook unreachable: {type(error).__name__}: {error}", outage=is_outage(error)) from None
