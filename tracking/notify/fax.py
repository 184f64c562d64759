"""Fax through an email-to-fax gateway: the gateway's address template (WORKUP_FAX_GATEWAY) with the
fax number's digits in place of `{number}`, e.g. "{number}@fax.example.org" and +1 617 555 0100
give 16175550100@fax.example.org. The gateway faxes the attachment to that number.
"""

from __future__ import annotations

from tracking.notify.contacts import InvalidContact, validate_email, validate_phone

PLACEHOLDER = "{number}"
SAMPLE_DIGITS = "15555550100"


def validate_gateway(template: str) -> str:
    """The template, stripped; InvalidContact unless it holds `{number}` once and gives an email address."""
    text = template.strip()
    if text.count(PLACEHOLDER) != 1:
        raise InvalidContact(f"{template!r} must hold {PLACEHOLDER} exactly once, e.g. {{number}}@fax.example.org")
    rest = text.replace(PLACEHOLDER, "")
    if "{" in rest or "}" in rest:
        raise InvalidContact(f"{template!r} may hold no braces but {PLACEHOLDER}")
    try:
        validate_email(text.replace(PLACEHOLDER, SAMPLE_DIGITS), require_dot=False, what="")
    except InvalidContact as error:
        raise InvalidContact(f"{template!r} does not give an email address with a fax number in it: {error}") from None
    return text


def fax_address(template: str, number: str, *, region: str | None = None) -> str:
    """The gateway's address for a fax number (checked and read as E.164 first); InvalidContact names the number."""
    e164 = validate_phone(number, channel="fax", region=region)
    digits = "".join(ch for ch in e164 if ch.isdigit())
    return validate_email(validate_gateway(template).replace(PLACEHOLDER, digits), require_dot=False, what="fax")
