"""Contacts are checked where they enter: facility contacts on CaseOpening, recipients in the settings."""

from __future__ import annotations

import string

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from tracking.cases.opening import CaseOpening, FacilityRef
from tracking.notify.contacts import InvalidContact, validate_contact
from tracking.settings import Settings

GOOD = {
    "email": "films@northside.example",
    "webhook": "https://lakeview.example/priors",
    "fax": "+1 202 555 0143",
    "phone": "(202) 555-0143",
    "post": "Film Library\nHarbor Regional Radiology\n1 Quay Street",
}

# Line breaks, other control characters (C0, DEL, C1), Unicode line/paragraph separators.
BREAKS = st.sampled_from(["\n", "\r", "\r\n", "\u2028", "\u2029", "\x85"])
CONTROLS = st.characters(categories=["Cc"]).filter(lambda ch: ch not in "\r\n")
SPACES = st.sampled_from([" ", "\t", "\u00a0", "\u3000"])

ATEXT = string.ascii_letters + string.digits + "!#$%&'*+/=?^_`{|}~-"
labels = st.text(string.ascii_lowercase + string.digits, min_size=1, max_size=12)
local_parts = st.lists(st.text(ATEXT, min_size=1, max_size=10), min_size=1, max_size=3).map(".".join)
domains = st.lists(labels, min_size=1, max_size=3).map(lambda parts: ".".join([*parts, "example"]))
good_emails = st.builds(lambda local, domain: f"{local}@{domain}", local_parts, domains)
good_urls = st.builds(
    lambda scheme, host, port, path: f"{scheme}://{host}{port}{path}",
    st.sampled_from(["http", "https", "HTTPS"]),
    domains,
    st.sampled_from(["", ":8080", ":443", ":9"]),
    st.sampled_from(["", "/", "/priors", "/hooks/films?facility=7&x=1"]),
)
REGIONS = sorted(region for region in phonenumbers.SUPPORTED_REGIONS if phonenumbers.example_number(region))


def facility_error(channel: str, contact: str) -> str:
    with pytest.raises(ValidationError) as raised:
        FacilityRef(name="X", channel=channel, contact=contact)
    return raised.value.errors()[0]["msg"]


def inserted(text: str, where: int, piece: str) -> str:
    where %= len(text) + 1
    return text[:where] + piece + text[where:]


def test_good_contacts_are_kept_in_their_stored_form():
    assert validate_contact("email", "Films@NorthSide.Example") == "Films@northside.example"
    assert validate_contact("email", "films@bücher.example") == "films@xn--bcher-kva.example"
    assert validate_contact("webhook", GOOD["webhook"]) == GOOD["webhook"]
    assert validate_contact("fax", GOOD["fax"]) == "+12025550143"
    assert validate_contact("phone", GOOD["phone"], region="US") == "+12025550143"
    assert validate_contact("phone", "020 7946 0958", region="GB") == "+442079460958"
    assert validate_contact("post", "1 Quay Street\r\nHarbour Town\r\n") == "1 Quay Street\nHarbour Town"


@pytest.mark.parametrize(
    ("channel", "contact", "reason"),
    [
        ("email", "not an address", "it has no @"),
        ("email", "films@northside", "the domain needs a dot"),
        ("email", "a@b.example, c@d.example", "give one address only"),
        ("email", "Films <films@x.example>", "a space"),
        ("email", "films@x.example\nBcc: all@x.example", "give one address only"),
        ("email", "films@x.example\n", "a line break or a control character"),
        ("email", "films@-x.example", "not a valid domain name"),
        ("email", "films@x..example", "not a valid domain name"),
        ("email", "films@127.0.0.1", "must be a domain name"),
        ("email", ".films@x.example", "not a valid mailbox name"),
        ("email", "", "it is empty"),
        ("webhook", "ftp://example.invalid/x", "http:// or https://"),
        ("webhook", "lakeview.example/priors", "http:// or https://"),
        ("webhook", "https:///priors", "it has no host"),
        ("webhook", "https://lakeview.example:99999/", "valid host and port"),
        ("webhook", "https://lake view.example/", "a space"),
        ("webhook", "https://lakeview.example/\r\nX-Evil: 1", "a line break"),
        ("fax", "12", "wrong number of digits"),
        ("fax", "call 202 555 0143", "digits, spaces and"),
        ("phone", "+1 202 555 0143 ext. 12", "no extension"),
        ("phone", "+1 202\n555 0143", "digits, spaces and"),
        ("post", "   ", "it is empty"),
        ("post", "1 Quay Street\x00", "U+0000"),
        ("post", "1 Quay Street\u202e", "U+202E"),
    ],
)
def test_bad_contacts_are_refused_with_a_reason(channel, contact, reason):
    with pytest.raises(InvalidContact) as raised:
        validate_contact(channel, contact, region="US")
    message = str(raised.value)
    assert reason in message
    assert repr(contact) in message and channel in message
    assert "\n" not in message and "\r" not in message  # one line on stderr


def test_the_facility_error_names_the_facility_and_the_contact():
    assert facility_error("email", "not an address") == (
        "facility 'X': email contact 'not an address' is not a valid email address: it has no @"
    )
    with pytest.raises(ValidationError) as raised:
        CaseOpening(
            mrn="1", given_name="A", family_name="B", birth_date="1960-01-01", laterality="left", density="c",
            facilities=[{"name": "Fine", "channel": "email", "contact": "a@b.example"},
                        {"name": "Y", "channel": "webhook", "contact": "ftp://example.invalid/x"}],
        )  # fmt: skip
    (error,) = raised.value.errors()
    assert error["loc"] == ("facilities", 1)
    assert error["msg"].startswith("facility 'Y': webhook contact 'ftp://example.invalid/x' is not a valid webhook URL")


def test_a_known_facility_by_name_alone_needs_no_contact():
    assert FacilityRef(name="Northside").contact is None
    assert FacilityRef(name="Northside", channel="fax", contact="202-555-0143").contact == "+12025550143"


@settings(max_examples=200, deadline=None)
@given(channel=st.sampled_from(["email", "webhook"]), piece=BREAKS | CONTROLS | SPACES, where=st.integers(0, 200))
def test_any_line_break_control_character_or_space_in_an_address_is_refused(channel, piece, where):
    contact = inserted(GOOD[channel], where, piece)
    if contact.strip(" ") == GOOD[channel]:
        return  # a plain space at either end is trimmed
    with pytest.raises(InvalidContact):
        validate_contact(channel, contact)
    assert "is not a valid" in facility_error(channel, contact)


@settings(max_examples=150, deadline=None)
@given(channel=st.sampled_from(["fax", "phone"]), piece=BREAKS | CONTROLS | SPACES.filter(lambda s: s != " "),
       where=st.integers(0, 40))  # fmt: skip
def test_any_line_break_or_control_character_in_a_number_is_refused(channel, piece, where):
    with pytest.raises(InvalidContact):
        validate_contact(channel, inserted(GOOD[channel], where, piece), region="US")


@settings(max_examples=150, deadline=None)
@given(piece=CONTROLS | st.sampled_from(["\u2028", "\u2029", "\u202e", "\u2066"]), where=st.integers(0, 80))
def test_control_characters_other_than_line_breaks_in_a_postal_address_are_refused(piece, where):
    with pytest.raises(InvalidContact):
        validate_contact("post", inserted(GOOD["post"], where, piece))


@settings(max_examples=150, deadline=None)
@given(lines=st.lists(st.text(st.characters(categories=["L", "N", "P", "Zs"]), min_size=1), min_size=1, max_size=4),
       ending=st.sampled_from(["\n", "\r\n", "\r"]))  # fmt: skip
def test_postal_addresses_keep_their_lines(lines, ending):
    if not "".join(lines).strip():
        return
    stored = validate_contact("post", ending.join(lines))
    assert stored == "\n".join(lines).strip(" \n") and "\r" not in stored
    assert validate_contact("post", stored) == stored


@settings(max_examples=200, deadline=None)
@given(address=good_emails)
def test_generated_good_email_addresses_are_accepted_and_stable(address):
    stored = validate_contact("email", address)
    assert stored == address
    assert FacilityRef(name="X", channel="email", contact=address).contact == stored


@settings(max_examples=200, deadline=None)
@given(url=good_urls)
def test_generated_good_webhook_urls_are_accepted_unchanged(url):
    assert validate_contact("webhook", url) == url


@settings(max_examples=200, deadline=None)
@given(
    region=st.sampled_from(REGIONS),
    style=st.sampled_from(
        [
            phonenumbers.PhoneNumberFormat.E164,
            phonenumbers.PhoneNumberFormat.INTERNATIONAL,
            phonenumbers.PhoneNumberFormat.NATIONAL,
        ]
    ),  # fmt: skip
    channel=st.sampled_from(["fax", "phone"]),
)
def test_numbers_in_any_common_notation_are_stored_as_e164(region, style, channel):
    number = phonenumbers.example_number(region)
    written = phonenumbers.format_number(number, style)
    expected = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    if not all(ch in "+0123456789 ()./-" for ch in written):  # a few regions write national numbers with letters
        return
    assert validate_contact(channel, written, region=region) == expected
    assert validate_contact(channel, expected, region="US") == expected


def test_the_default_phone_region_comes_from_the_settings(monkeypatch):
    from tracking.settings import get_settings

    monkeypatch.setenv("WORKUP_DEFAULT_PHONE_REGION", "gb")
    get_settings.cache_clear()
    try:
        assert get_settings().default_phone_region == "GB"
        assert validate_contact("fax", "020 7946 0958") == "+442079460958"
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
    assert validate_contact("fax", "202 555 0143") == "+12025550143"


@pytest.mark.parametrize(
    ("variable", "value", "reason"),
    [
        ("WORKUP_NAVIGATOR_EMAIL", "navigator", "is not a valid email address: it has no @"),
        ("WORKUP_ESCALATION_EMAIL", "lead@x.example\nBcc: x@y.example", "is not a valid email address"),
        ("WORKUP_MAIL_FROM", "Workup <workup@x.example>", "is not a valid email address"),
        ("WORKUP_ALERT_WEBHOOK_URL", "ftp://hooks.example/alerts", "is not a valid webhook URL"),
        ("WORKUP_PATIENT_MESSAGING_WEBHOOK_URL", "hooks.example/messages", "is not a valid webhook URL"),
        ("WORKUP_DEFAULT_PHONE_REGION", "XX", "is not a phone region code"),
    ],
)
def test_a_bad_recipient_setting_fails_at_start_naming_the_variable(monkeypatch, variable, value, reason):
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValidationError) as raised:
        Settings(_env_file=None)
    (error,) = raised.value.errors()
    assert error["loc"] == (variable,)
    assert reason in error["msg"] and repr(value) in error["msg"]


def test_good_and_empty_recipient_settings(monkeypatch):
    monkeypatch.setenv("WORKUP_NAVIGATOR_EMAIL", "Navigators@Clinic.Example")
    monkeypatch.setenv("WORKUP_ESCALATION_EMAIL", "")
    monkeypatch.setenv("WORKUP_MAIL_FROM", "breast-workup@localhost")
    monkeypatch.setenv("WORKUP_ALERT_WEBHOOK_URL", "https://hooks.example/alerts")
    monkeypatch.setenv("WORKUP_PATIENT_MESSAGING_WEBHOOK_URL", " ")
    loaded = Settings(_env_file=None)
    assert loaded.navigator_email == "Navigators@clinic.example"
    assert loaded.escalation_email is None and loaded.patient_messaging_webhook_url is None
    assert loaded.mail_from == "breast-workup@localhost"  # a local sender needs no dot
    assert loaded.alert_webhook_url == "https://hooks.example/alerts"
