"""Hostile input on the API and the pages: bounded 4xx answers, real error pages, audited refusals, no 500."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import text

from tests.factories import SUSPICIOUS_MAG
from tests.web.test_api import NEW_CASE, count

HUGE = 2**31  # one past int4
TABLES = ("patients", "cases", "case_events", "steps", "prior_film_requests", "outside_facilities")


def counts(engine) -> dict[str, int]:
    return {table: count(engine, table) for table in TABLES}


def audit_rows(engine, action: str) -> list[tuple[str, dict]]:
    with engine.connect() as connection:
        query = text("SELECT actor, detail FROM audit_log WHERE action = :action ORDER BY id")
        return [(actor, detail) for actor, detail in connection.execute(query, {"action": action})]


def raw_post(api, path: str, raw: str, **headers):
    return api.post(path, content=raw.encode(), headers={"Content-Type": "application/json", **headers})


@pytest.fixture
def api(api_for):
    return api_for("navigator")


@pytest.mark.parametrize(
    "path",
    [
        f"/api/cases/{HUGE}",
        f"/api/cases/{10**20}",
        "/api/cases/0",
        "/api/cases/abc",
        f"/api/alerts?case={HUGE}",
        "/api/overdue?older_than=1000000",
        "/api/overdue?older_than=-1",
        f"/api/overdue?step={'x' * 500}",
        "/api/overdue?limit=0",
    ],
)
def test_reads_with_out_of_range_parameters_answer_422(api, path):
    response = api.get(path)
    assert response.status_code == 422, response.text
    assert "error" in response.json()


def test_a_case_that_is_not_there_answers_404(api):
    response = api.get("/api/cases/424242")
    assert response.status_code == 404 and response.json()["error"] == "case 424242 does not exist"


def mag(**fields) -> dict:
    return {"kind": "magnification_result", "data": {**SUSPICIOUS_MAG, **fields}}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (mag(extent_mm=-1), "extent_mm"),
        (mag(extent_mm=10**400), "extent_mm"),
        (mag(modality="x" * 101), "modality"),
        ({"kind": "ultrasound_result", "data": {"findings": "x" * 1_000_000}}, "findings"),
        ({"kind": "ultrasound_result", "data": {"findings": "no\x00mass"}}, "findings"),
        ({"kind": "ultrasound_result", "data": {"findings": "no\x1b[31mmass"}}, "findings"),
        ({"kind": "prior_films_unobtainable", "data": {"facility_id": 1, "reason": "r" * 1_000_000}}, "reason"),
        ({"kind": "prior_films_unobtainable", "data": {"facility_id": HUGE, "reason": "gone"}}, "facility_id"),
        ({"kind": "biopsy_performed", "data": {"procedure": "stereotactic", "cores": 10**12}}, None),
    ],
)
def test_event_data_out_of_bounds_is_refused_and_writes_nothing(api, seeded_case, committed, body, field):
    before = counts(committed)
    response = api.post(f"/api/cases/{seeded_case}/events", json=body)
    assert response.status_code == 422, response.text
    assert len(response.text) < 2000  # the refusal quotes a value short, never all of it
    if field:
        assert response.json()["field"] == field
    assert counts(committed) == before


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_non_finite_numbers_are_refused(api, seeded_case, committed, number):
    before = counts(committed)
    raw = json.dumps(mag(extent_mm=12)).replace('"extent_mm": 12', f'"extent_mm": {number}')
    response = raw_post(api, f"/api/cases/{seeded_case}/events", raw)
    assert response.status_code == 422, response.text
    assert counts(committed) == before


@pytest.mark.parametrize(
    "occurred_at",
    ["9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00", "1850-01-01T00:00:00Z", "2999-01-01T00:00:00Z",
     "2001-01-01T00:00:00Z"],
)  # fmt: skip
def test_occurred_at_outside_the_case_and_the_present_is_refused(api, seeded_case, committed, occurred_at):
    before = counts(committed)
    response = api.post(f"/api/cases/{seeded_case}/events", json={**mag(), "occurred_at": occurred_at})
    assert response.status_code == 422, response.text
    assert counts(committed) == before


def test_ids_in_bodies_and_headers_are_bounded(api, seeded_case, committed):
    before = counts(committed)
    assert api.post(f"/api/cases/{seeded_case}/events", json={**mag(), "expected_version": HUGE}).status_code == 422
    assert api.post(f"/api/cases/{HUGE}/events", json=mag()).status_code == 422
    assert api.post(f"/api/alerts/{HUGE}/ack", json={"reason": "booked"}).status_code == 422
    assert api.post(f"/api/cases/{seeded_case}/events", json=mag(), headers={"If-Match": "9" * 30}).status_code == 422
    assert (
        api.post(f"/api/cases/{seeded_case}/events", json=mag(), headers={"Idempotency-Key": "k" * 201}).status_code
        == 422
    )
    assert api.post("/api/alerts/1/ack", json={"reason": "r" * 1_000_000}).status_code == 422
    assert counts(committed) == before


@pytest.mark.parametrize(
    "change",
    [
        {"birth_date": "0001-01-01"},
        {"birth_date": "1899-12-31"},
        {"birth_date": "2999-01-01"},
        {"given_name": "In\x00es"},
        {"family_name": "Api\ntest"},
        {"mrn": "API\x07-1"},
        {"mrn": "M" * 65},
        {"family_name": "F" * 201},
        {"birads": "4BX"},
        {"facilities": [{"name": "N\x00", "channel": "email", "contact": "films@n.test"}]},
        {"facilities": [{"name": "Post", "channel": "post", "contact": "1 Road\x00"}]},
        {"facilities": [{"name": f"F{number}"} for number in range(21)]},
    ],
)
def test_openings_out_of_bounds_are_refused_without_echoing_patient_data(api, committed, change):
    before = counts(committed)
    response = api.post("/api/cases", json={**NEW_CASE, **change})
    assert response.status_code == 422, response.text
    assert "Ines" not in response.text and "Apitest" not in response.text
    assert counts(committed) == before


def test_openapi_shows_the_bounds(api):
    schema = api.get("/openapi.json").json()
    opening = schema["components"]["schemas"]["CaseOpening"]["properties"]
    assert opening["mrn"]["maxLength"] == 64 and "pattern" in opening["given_name"]
    case_id = next(p for p in schema["paths"]["/api/cases/{case_id}"]["get"]["parameters"] if p["name"] == "case_id")
    assert case_id["schema"]["maximum"] == 2**31 - 1
    overdue = {p["name"]: p for p in schema["paths"]["/api/overdue"]["get"]["parameters"]}
    assert overdue["older_than"]["schema"]["anyOf"][0]["maximum"] == 36_500


# --- pages -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/cases/abc", 404),
        ("/cases/0", 404),
        (f"/cases/{HUGE}", 404),
        ("/cases/424242", 404),
        ("/screening?page=0", 422),
        ("/screening?due=soonish", 422),
        (f"/screening?due=within&days={HUGE}{HUGE}", 422),
        ("/no-such-page", 404),
        (f"/cases/{HUGE}/event-form?kind=assessment", 404),
    ],
)
def test_bad_page_requests_get_a_real_error_page(browser_for, path, status):
    browser = browser_for("navigator")
    response = browser.get(path)
    assert response.status_code == status, response.text[:500]
    assert response.headers["content-type"].startswith("text/html")
    assert 'role="alert"' in response.text and "Back to the worklist" in response.text
    if path != "/no-such-page":  # no route, so nobody was signed in on the way
        assert "Test navigator" in response.text  # the page still knows who is signed in


def test_the_plain_event_form_shows_a_refusal_inline(browser_for, seeded_case, committed):
    """Without htmx, a refused event re-renders the case page with the form and its values (no crash)."""
    browser = browser_for("navigator")
    before = counts(committed)
    response = browser.post_form(f"/cases/{seeded_case}/events", {
        "kind": "biopsy_scheduled", "procedure": "stereotactic", "scheduled_for": "2030-01-01T09:00",
    })  # fmt: skip
    assert response.status_code == 422, response.text[:500]
    assert "safety guard G1" in response.text
    assert 'value="stereotactic" selected' in response.text
    assert counts(committed) == before


def test_plain_form_with_out_of_range_values_is_refused(browser_for, seeded_case, committed):
    browser = browser_for("navigator")
    before = counts(committed)
    for data in (
        {"kind": "magnification_result", **SUSPICIOUS_MAG, "extent_mm": "nan"},
        {"kind": "magnification_result", **SUSPICIOUS_MAG, "extent_mm": "-4"},
        {"kind": "magnification_result", **SUSPICIOUS_MAG, "expected_version": "²"},
        {"kind": "ultrasound_result", "findings": "x\x00y"},
        {"kind": "no_such_event"},
    ):
        response = browser.post_form(f"/cases/{seeded_case}/events", data)
        assert response.status_code == 422, (data, response.text[:500])
    assert browser.post_form("/alerts/1/ack", {"reason": "r" * 600}).status_code == 422
    assert browser.post_form("/alerts/1/ack", {"reason": "booked", "snooze_days": "9" * 40}).status_code == 422
    assert counts(committed) == before


# --- audit of denials and refused writes -----------------------------------------------------------


def test_denials_and_refused_writes_are_audited_with_ids_and_path_only(app, api_for, seeded_case, committed):
    from fastapi.testclient import TestClient

    anonymous = TestClient(app).post(f"/api/cases/{seeded_case}/events", json=mag())
    assert anonymous.status_code == 401
    radiologist = api_for("radiologist").post("/api/cases", json=NEW_CASE)
    assert radiologist.status_code == 403
    refused = api_for("navigator").post("/api/cases", json={**NEW_CASE, "birth_date": "0001-01-01"})
    assert refused.status_code == 422
    guard = api_for("navigator").post(
        f"/api/cases/{seeded_case}/events",
        json={"kind": "biopsy_scheduled", "data": {"procedure": "stereotactic", "scheduled_for": "2030-01-01T09:00Z"}},
    )
    assert guard.status_code == 422
    denied = audit_rows(committed, "request.denied")
    assert ("anonymous", {"method": "POST", "path": f"/api/cases/{seeded_case}/events", "status": 401,
                          "ids": {"case_id": seeded_case}}) in denied  # fmt: skip
    assert ("u-radiologist", {"method": "POST", "path": "/api/cases", "status": 403}) in denied
    writes = audit_rows(committed, "write.refused")
    assert ("u-navigator", {"method": "POST", "path": "/api/cases", "status": 422}) in writes
    assert ("u-navigator", {"method": "POST", "path": f"/api/cases/{seeded_case}/events", "status": 422,
                            "ids": {"case_id": seeded_case}}) in writes  # fmt: skip
    everything = json.dumps(denied + writes)
    assert "Ines" not in everything and "API-1" not in everything and "0001-01-01" not in everything


@pytest.mark.parametrize(
    "query",
    [
        "step=&navigator=&facility=&late=",  # what the filter form sends when nothing is chosen
        "step=magnification_views&navigator=&facility=&late=overdue",
        "facility=1",
        "facility=99999999999",  # past the column: an inline message, no 500
        "late=someday",
        "page=0",  # the worklist reads its own query string: a bad page or filter is named, never an error page
        f"page={10**12}",
        "facility=abc",
        "step=%00&navigator=" + "x" * 500 + "&birads=%F0%9F%92%A5",
    ],
)
def test_the_worklist_filter_form_as_the_browser_sends_it(browser_for, seeded_case, query):
    answer = browser_for("navigator").get(f"/worklist?{query}", headers={"HX-Request": "true"})
    assert answer.status_code == 200, answer.text[:500]
    assert 'data-testid="worklist"' in answer.text
