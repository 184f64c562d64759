"""`workup case open` checks facility contacts before anything is written (issue 8)."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from tests.integration import test_cli
from tests.integration.test_cli import count, one_clear_line

workup = test_cli.workup  # the `workup` fixture: run the real command against the test database

PATIENT = ["--given-name", "Cora", "--family-name", "Contact", "--birth-date", "1970-02-03",
           "--laterality", "left", "--density", "b"]  # fmt: skip
TABLES = ("patients", "cases", "case_events", "steps", "outside_facilities", "audit_log")


def snapshot(engine) -> dict[str, int]:
    return {table: count(engine, table) for table in TABLES}


@pytest.mark.parametrize(
    ("facility", "expected"),
    [
        ("X=email:not an address",
         "error: invalid input: facilities.0: facility 'X': email contact 'not an address' is not a valid email "
         "address: it has no @"),
        ("Y=webhook:ftp://example.invalid/x",
         "error: invalid input: facilities.0: facility 'Y': webhook contact 'ftp://example.invalid/x' is not a "
         "valid webhook URL: it must start with http:// or https://"),
        ("Z=fax:555", "error: invalid input: facilities.0: facility 'Z': fax contact '555' is not a valid fax number"),
    ],
)  # fmt: skip
def test_bad_contacts_exit_2_and_write_nothing(workup, committed, facility, expected):
    before = snapshot(committed)
    process = workup("case", "open", "--mrn", "CONTACT-1", *PATIENT, "--facility", facility)
    assert process.returncode == 2
    assert one_clear_line(process).startswith(expected)
    assert snapshot(committed) == before


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    channel=st.sampled_from(["email", "webhook", "phone"]),
    piece=st.sampled_from(["\n", "\r\n", "\t", "\x07", "\x1b", "\x7f", "\u2028", " "]),
    where=st.integers(min_value=2, max_value=9),
)
def test_generated_bad_contacts_from_the_command_line(workup, committed, channel, piece, where):
    good = {"email": "films@cli.test", "webhook": "https://cli.test/priors", "phone": "+1 202 555 0147"}[channel]
    if channel == "phone" and piece == " ":
        piece = " x"  # spaces are fine in a number
    contact = good[:where] + piece + good[where:]
    before = snapshot(committed)
    process = workup("case", "open", "--mrn", "CONTACT-2", *PATIENT, "--facility", f"Gen CLI={channel}:{contact}")
    assert process.returncode == 2, process.stdout
    assert "facility 'Gen CLI'" in one_clear_line(process)
    assert snapshot(committed) == before


def test_good_contacts_are_stored_normalised(workup, committed):
    process = workup(
        "case", "open", "--mrn", "CONTACT-3", *PATIENT, "--json",
        "--facility", "Good Mail=email:Films@Good-Mail.Example",
        "--facility", "Good Hook=webhook:https://good.example/priors",
        "--facility", "Good Fax=fax:(202) 555-0148",
        "--facility", "Good Post=post:Film Library, 1 Quay Street",
    )  # fmt: skip
    assert process.returncode == 0, process.stderr
    assert len(json.loads(process.stdout)["prior_film_requests"]) == 4
    with committed.connect() as connection:
        stored = dict(connection.execute(text("SELECT name, contact FROM outside_facilities")).all())
    assert stored == {
        "Good Mail": "Films@good-mail.example",
        "Good Hook": "https://good.example/priors",
        "Good Fax": "+12025550148",
        "Good Post": "Film Library, 1 Quay Street",
    }
