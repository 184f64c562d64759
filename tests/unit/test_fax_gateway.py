"""The email-to-fax gateway: WORKUP_FAX_GATEWAY is checked at start, and a fax number becomes its digits in it."""

from __future__ import annotations

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from tests.unit.test_contacts import REGIONS, domains
from tracking.notify.contacts import InvalidContact
from tracking.notify.fax import fax_address, validate_gateway
from tracking.settings import Settings

STYLES = [phonenumbers.PhoneNumberFormat.E164, phonenumbers.PhoneNumberFormat.INTERNATIONAL,
          phonenumbers.PhoneNumberFormat.NATIONAL]  # fmt: skip
templates = st.builds(
    lambda before, after, domain: f"{before}{{number}}{after}@{domain}",
    st.sampled_from(["", "fax.", "+", "send-"]),
    st.sampled_from(["", ".fax", "-out"]),
    domains,
)


@settings(max_examples=200, deadline=None)
@given(template=templates, region=st.sampled_from(REGIONS), style=st.sampled_from(STYLES))
def test_any_number_in_any_notation_becomes_its_e164_digits(template, region, style):
    number = phonenumbers.example_number(region)
    written = phonenumbers.format_number(number, style)
    if not all(ch in "+0123456789 ()./-" for ch in written):  # a few regions write national numbers with letters
        return
    digits = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164).removeprefix("+")
    assert fax_address(template, written, region=region) == template.replace("{number}", digits).lower()


@pytest.mark.parametrize(
    ("number", "says"),
    [("", "not a valid fax number"), ("fax me", "not a valid fax number"), ("+1 617\n555 0100", "not a valid fax"),
     ("+1 617 555 0100 ext 4", "no extension"), ("12", "wrong number of digits")],
)  # fmt: skip
def test_a_bad_fax_number_is_named(number, says):
    with pytest.raises(InvalidContact) as refused:
        fax_address("{number}@fax.example.org", number, region="US")
    assert says in str(refused.value) and repr(number) in str(refused.value)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("fax.example.org", "must hold {number} exactly once"),
        ("{number}{number}@fax.example.org", "must hold {number} exactly once"),
        ("{number}@{domain}", "may hold no braces but {number}"),
        ("{number}@", "does not give an email address"),
        ("{number}@fax.example.org\nBcc: x@y.example", "does not give an email address"),
        ("Fax <{number}@fax.example.org>", "does not give an email address"),
    ],
)
def test_a_bad_gateway_setting_fails_at_start_naming_the_variable(monkeypatch, value, reason):
    monkeypatch.setenv("WORKUP_FAX_GATEWAY", value)
    with pytest.raises(ValidationError) as raised:
        Settings(_env_file=None)
    (error,) = raised.value.errors()
    assert error["loc"] == ("WORKUP_FAX_GATEWAY",)
    assert reason in error["msg"] and repr(value) in error["msg"]


def test_good_and_empty_gateway_settings(monkeypatch):
    monkeypatch.setenv("WORKUP_FAX_GATEWAY", " {number}@fax.example.org ")
    assert Settings(_env_file=None).fax_gateway == "{number}@fax.example.org"
    monkeypatch.setenv("WORKUP_FAX_GATEWAY", "")
    assert Settings(_env_file=None).fax_gateway is None
    assert validate_gateway("+{number}@rcfax.com") == "+{number}@rcfax.com"


@pytest.mark.parametrize("content", [None, "not a certificate\n"])
def test_a_ca_file_that_is_not_pem_certificates_fails_at_start(monkeypatch, tmp_path, content):
    path = tmp_path / "ca.pem"
    if content is not None:
        path.write_text(content)
    monkeypatch.setenv("WORKUP_SMTP_CA_FILE", str(path))
    with pytest.raises(ValidationError) as raised:
        Settings(_env_file=None)
    (error,) = raised.value.errors()
    assert error["loc"] == ("WORKUP_SMTP_CA_FILE",) and "is not a readable file of PEM certificates" in error["msg"]
