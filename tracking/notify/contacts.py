"""Contacts checked where they enter: outside facilities at case opening, recipients in the settings.

`validate_contact(channel, contact)` returns the contact in its stored form or raises InvalidContact,
whose message names the channel and the contact. A contact that would later block delivery (a line
break in an address, a webhook that is not an http(s) URL) is refused here, before anything is written.

- email: one address `local@domain`, ASCII dot-atom local part, a domain of letters, digits and
  hyphens (internationalised names are stored as IDNA), with a dot unless `require_dot=False`;
  no spaces, line breaks or control characters. Stored with the domain in lower case.
- webhook: an absolute http:// or https:// URL with a host and a valid port; no whitespace or
  control characters.
- fax, phone: a number of digits and `+ ( ) - . /` and spaces, parsed with `phonenumbers` in the
  region of WORKUP_DEFAULT_PHONE_REGION when it has no `+` prefix; stored as E.164.
- post: a non-empty address; line breaks are kept (stored as `\\n`), other control characters refused.
"""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import urlsplit

import phonenumbers

CHANNELS = ("email", "webhook", "fax", "phone", "post")

_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LOCAL_PART = re.compile(rf"{_ATOM}(?:\.{_ATOM})*\Z")
_DOMAIN_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\Z")
_PHONE_TEXT = re.compile(r"\+?[0-9 ()./-]*[0-9][0-9 ()./-]*\Z")
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f")


class InvalidContact(ValueError):
    """A contact that cannot be delivered to; the message names it."""


def validate_contact(channel: str, contact: str, *, region: str | None = None) -> str:
    """The contact for `channel` in its stored form; raise InvalidContact naming what is wrong."""
    channel = str(getattr(channel, "value", channel))
    if not isinstance(contact, str):
        raise InvalidContact(f"{channel} contact {contact!r} must be text")
    if channel == "email":
        return validate_email(contact)
    if channel == "webhook":
        return validate_webhook_url(contact)
    if channel in ("fax", "phone"):
        return validate_phone(contact, channel=channel, region=region)
    if channel == "post":
        return validate_postal_address(contact)
    raise InvalidContact(f"{channel!r} is not a contact channel; use one of {', '.join(CHANNELS)}")


def validate_email(value: str, *, require_dot: bool = True, what: str = "email contact") -> str:
    """One email address, no display name; the domain lower-cased (IDNA for non-ASCII names)."""

    def refuse(reason: str) -> InvalidContact:
        return InvalidContact(f"{_named(what, value)} is not a valid email address: {reason}")

    text = value.strip(" ")
    if not text:
        raise refuse("it is empty")
    if text.count("@") != 1:
        raise refuse("it has no @" if "@" not in text else "give one address only")
    if any(ch.isspace() or not ch.isprintable() for ch in text):
        raise refuse("it contains a space, a line break or a control character")
    local, domain = text.split("@")
    if not local or len(local) > 64 or not _LOCAL_PART.match(local):
        raise refuse("the part before the @ is not a valid mailbox name")
    try:
        ascii_domain = domain.encode("idna").decode("ascii").lower() if domain else ""
    except UnicodeError:
        raise refuse("the part after the @ is not a valid domain name") from None
    labels = ascii_domain.split(".")
    if not ascii_domain or len(ascii_domain) > 253 or not all(_DOMAIN_LABEL.match(label) for label in labels):
        raise refuse("the part after the @ is not a valid domain name")
    if require_dot and len(labels) < 2:
        raise refuse("the domain needs a dot, e.g. name@example.org")
    if labels[-1].isdigit():
        raise refuse("the part after the @ must be a domain name, not an address")
    address = f"{local}@{ascii_domain}"
    if len(address) > 254:
        raise refuse("it is longer than 254 characters")
    return address


def validate_webhook_url(value: str, *, what: str = "webhook contact") -> str:
    """An absolute http(s) URL with a host; no whitespace or control characters anywhere."""

    def refuse(reason: str) -> InvalidContact:
        return InvalidContact(f"{_named(what, value)} is not a valid webhook URL: {reason}")

    text = value.strip(" ")
    if not text:
        raise refuse("it is empty")
    if any(ch.isspace() or not ch.isprintable() for ch in text):
        raise refuse("it contains a space, a line break or a control character")
    try:
        parts = urlsplit(text)
        port_ok = parts.port is None or parts.port > 0
    except ValueError:
        raise refuse("it is not a URL with a valid host and port") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise refuse("it must start with http:// or https://")
    if not parts.hostname:
        raise refuse("it has no host")
    if not port_ok:
        raise refuse("its port is not valid")
    return text


def validate_phone(value: str, *, channel: str = "phone", region: str | None = None) -> str:
    """A fax or phone number as E.164 (`+12025550143`); without `+`, read in `region`."""

    def refuse(reason: str) -> InvalidContact:
        return InvalidContact(f"{channel} contact {value!r} is not a valid {channel} number: {reason}")

    text = value.strip(" ")
    if not _PHONE_TEXT.match(text):
        raise refuse("write digits, spaces and + ( ) - . / only, e.g. +1 202 555 0143 (no extension)")
    if region is None:
        from tracking.settings import get_settings

        region = get_settings().default_phone_region
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        raise refuse("it is not a phone number") from None
    if not phonenumbers.is_possible_number(number):
        raise refuse(f"it has the wrong number of digits for {phonenumbers.region_code_for_number(number) or region}")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def validate_postal_address(value: str) -> str:
    """A non-empty postal address; CR LF and CR become LF, other control characters are refused."""
    text = value.replace("\r\n", "\n").replace("\r", "\n").strip(" \n")
    if not text:
        raise InvalidContact(f"post contact {value!r} is not a valid postal address: it is empty")
    for ch in text:
        if ch != "\n" and (unicodedata.category(ch) in ("Cc", "Zl", "Zp") or ch in _BIDI_CONTROLS):
            raise InvalidContact(
                f"post contact {value!r} is not a valid postal address: it contains the control character "
                f"U+{ord(ch):04X}"
            )
    return text


def _named(what: str, value: str) -> str:
    return f"{what} {value!r}" if what else repr(value)


def validate_region(value: str) -> str:
    """A phonenumbers region code such as US or GB."""
    region = value.strip().upper()
    if region not in phonenumbers.SUPPORTED_REGIONS:
        raise InvalidContact(f"{value!r} is not a phone region code such as US, GB or DE")
    return region
