"""The API and the case form with idempotency keys bound to their requests, and contacts checked on entry."""

from __future__ import annotations

import json
import os
import subprocess
import uuid

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from tests.factories import SUSPICIOUS_MAG
from tests.integration.test_cli import WORKUP
from tests.web.test_api import AUDIT_BUT_REFUSALS, NEW_CASE, count

TABLES = ("patients", "cases", "case_events", "steps", "outside_facilities", AUDIT_BUT_REFUSALS, "case_runs")


def counts(engine) -> dict[str, int]:
    with engine.connect() as connection:
        return {table: connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one() for table in TABLES}


def test_open_case_same_key_other_patient_answers_422_naming_the_key(api_for, committed):
    api = api_for("navigator")
    first = api.post("/api/cases", json=NEW_CASE, headers={"Idempotency-Key": "api-open-K"})
    assert first.status_code == 201, first.text
    before = counts(committed)
    other = api.post("/api/cases", json={**NEW_CASE, "mrn": "API-OTHER-2"}, headers={"Idempotency-Key": "api-open-K"})
    assert other.status_code == 422
    assert other.json()["error"].startswith(
        f"idempotency key 'api-open-K' was already used to open case {first.json()['case_id']} with a different request"
    )
    assert counts(committed) == before
    with committed.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM patients WHERE mrn = 'API-OTHER-2'")).scalar_one() == 0
    again = api.post("/api/cases", json=NEW_CASE, headers={"Idempotency-Key": "api-open-K"})
    assert again.status_code == 200 and again.json()["replayed"] is True
    assert again.json()["case_id"] == first.json()["case_id"]


def test_record_event_same_key_other_data_answers_422(api_for, seeded_case, committed):
    api = api_for("navigator")
    path = f"/api/cases/{seeded_case}/events"
    first = api.post(path, json={"kind": "magnification_result", "data": SUSPICIOUS_MAG},
                     headers={"Idempotency-Key": "api-ev-K"})  # fmt: skip
    assert first.status_code == 201, first.text
    before = counts(committed)
    other = api.post(path, json={"kind": "magnification_result", "data": {**SUSPICIOUS_MAG, "birads": "5"}},
                     headers={"Idempotency-Key": "api-ev-K"})  # fmt: skip
    assert other.status_code == 422 and "'api-ev-K'" in other.json()["error"]
    assert counts(committed) == before
    same = api.post(path, json={"kind": "magnification_result", "data": SUSPICIOUS_MAG},
                    headers={"Idempotency-Key": "api-ev-K"})  # fmt: skip
    assert same.status_code == 200 and same.json()["event_id"] == first.json()["event_id"]


def test_a_key_from_the_api_replays_from_the_cli(api_for, seeded_case, committed, database_url):
    api = api_for("radiologist")
    first = api.post(f"/api/cases/{seeded_case}/events", json={"kind": "magnification_result", "data": SUSPICIOUS_MAG},
                     headers={"Idempotency-Key": "both-ways"})  # fmt: skip
    assert first.status_code == 201
    env = {**os.environ, "DATABASE_URL": database_url}
    cli = subprocess.run(
        [WORKUP, "event", "record", str(seeded_case), "magnification_result", "--data", json.dumps(SUSPICIOUS_MAG),
         "--idempotency-key", "both-ways", "--json"],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert cli.returncode == 0, cli.stderr
    assert json.loads(cli.stdout)["replayed"] is True and json.loads(cli.stdout)["event_id"] == first.json()["event_id"]


def test_the_case_form_token_replays_a_double_submit_and_refuses_changed_values(browser_for, seeded_case, committed):
    browser = browser_for("navigator")
    htmx = {"HX-Request": "true"}
    form = {"kind": "magnification_result", **SUSPICIOUS_MAG, "token": str(uuid.uuid4())}
    assert browser.post_form(f"/cases/{seeded_case}/events", form, headers=htmx).status_code == 204
    events = count(committed, "case_events", seeded_case)
    assert browser.post_form(f"/cases/{seeded_case}/events", form, headers=htmx).status_code == 204  # double submit
    assert count(committed, "case_events", seeded_case) == events
    changed = browser.post_form(f"/cases/{seeded_case}/events", {**form, "birads": "5"}, headers=htmx)
    assert "This form was already saved with other values" in changed.text
    assert form["token"] not in changed.text  # a fresh token: sending it again records a new event
    assert count(committed, "case_events", seeded_case) == events


# --- contacts through the API ----------------------------------------------------------------------

BAD_PIECES = st.sampled_from(["\n", "\r\n", "\r", "\t", "\x00", "\x07", "\x1b", "\x7f", "\x85", "\u2028", " x"])


def with_facility(channel: str, contact: str, name: str = "Gen Imaging") -> dict:
    return {**NEW_CASE, "mrn": f"API-{uuid.uuid4().hex[:10]}",
            "facilities": [{"name": name, "channel": channel, "contact": contact}]}  # fmt: skip


def test_bad_contacts_answer_422_naming_facility_and_contact(api_for, committed):
    api = api_for("navigator")
    before = counts(committed)
    for channel, contact, reason in [
        ("email", "not an address", "email contact 'not an address' is not a valid email address"),
        ("webhook", "ftp://example.invalid/x", "webhook contact 'ftp://example.invalid/x' is not a valid webhook URL"),
        ("fax", "twelve", "fax contact 'twelve' is not a valid fax number"),
        ("post", "\x00", "post contact '\\x00' is not a valid postal address"),
    ]:
        response = api.post("/api/cases", json=with_facility(channel, contact, name="X"))
        assert response.status_code == 422, response.text
        assert response.json()["error"].startswith(f"invalid request: facilities.0: facility 'X': {reason}: ")
    assert counts(committed) == before


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    channel=st.sampled_from(["email", "webhook", "fax", "phone"]),
    piece=BAD_PIECES,
    where=st.integers(min_value=1, max_value=10),
)
def test_generated_bad_contacts_write_nothing(api_for, committed, channel, piece, where):
    good = {"email": "films@gen.test", "webhook": "https://gen.test/priors", "fax": "+1 202 555 0143",
            "phone": "+1 202 555 0144"}[channel]  # fmt: skip
    contact = good[:where] + piece + good[where:]
    api = api_for("navigator")
    before = counts(committed)
    response = api.post("/api/cases", json=with_facility(channel, contact))
    assert response.status_code == 422, response.text
    assert "facility 'Gen Imaging'" in response.json()["error"]
    assert counts(committed) == before


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    case=st.sampled_from(
        [
            ("email", "Films@Gen-{n}.Example", "Films@gen-{n}.example"),
            ("webhook", "https://gen-{n}.example:8443/priors?x=1", "https://gen-{n}.example:8443/priors?x=1"),
            ("fax", "(202) 555-01{n:02d}", "+120255501{n:02d}"),
            ("phone", "+44 20 7946 0{n:03d}", "+4420794600{n:02d}"),
            ("post", "Film Library\r\nGen {n} Radiology\r\n", "Film Library\nGen {n} Radiology"),
        ]
    ),
    n=st.integers(min_value=10, max_value=99),
)
def test_good_contacts_are_stored_normalised(api_for, committed, case, n):
    channel, written, stored = case
    name = f"Gen {channel} {uuid.uuid4().hex[:8]}"
    response = api_for("navigator").post("/api/cases", json=with_facility(channel, written.format(n=n), name=name))
    assert response.status_code == 201, response.text
    with committed.connect() as connection:
        row = connection.execute(
            text("SELECT channel, contact FROM outside_facilities WHERE name = :name"), {"name": name}
        ).one()
    assert tuple(row) == (channel, stored.format(n=n))
