"""/fhir refusals are OperationOutcomes naming what is wrong; sign-in as for /api; every read and search
audited with ids only; no patient data in the logs; one query per page, never one per row."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, text
from sqlmodel import Session

from tests.fhir_support import ADA, ADA_CONTACT, World, build_world, checked
from tracking.db import get_engine
from tracking.users.roles import READ, ROUTE_ROLES, Role
from tracking.users.service import disable_user

FHIR_JSON = "application/fhir+json"


@pytest.fixture
def world(committed, users) -> World:
    return build_world(committed, users["navigator"])


@pytest.fixture
def fhir(api_for):
    return api_for("radiologist")


def outcome(response, status: int) -> dict:
    """The answer's OperationOutcome, checked: its status, media type and R4B validity; its one issue."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == FHIR_JSON
    body = response.json()
    checked(body)
    assert body["resourceType"] == "OperationOutcome" and body["issue"][0]["severity"] == "error"
    return body["issue"][0]


REFUSED_SEARCHES = [  # (path, issue code, parameter named, words in the diagnostics)
    ("/fhir/Task?foo=1", "not-supported", "foo", "not a search parameter of Task"),
    ("/fhir/Task?_sort=status", "not-supported", "_sort", "not a search parameter"),
    ("/fhir/Task?status:not=completed", "not-supported", "status:not", "modifier"),
    ("/fhir/Task?status=finished", "invalid", "status", "'finished' is not one of"),
    ("/fhir/Task?status=", "invalid", "status", "no value"),
    ("/fhir/Task?status=completed,", "invalid", "status", "empty value"),
    ("/fhir/Task?_count=abc", "invalid", "_count", "whole number"),
    ("/fhir/Task?_count=-1", "invalid", "_count", "whole number"),
    ("/fhir/Task?_count=5&_count=6", "invalid", "_count", "once"),
    ("/fhir/Task?_offset=99999999", "invalid", "_offset", "at most"),
    ("/fhir/Task?_total=maybe", "invalid", "_total", "none, estimate or accurate"),
    ("/fhir/Task?_format=xml", "not-supported", "_format", "only JSON"),
    ("/fhir/Task?_lastUpdated=ne2026-03-01", "not-supported", "_lastUpdated", "prefix 'ne'"),
    ("/fhir/Task?_lastUpdated=xx2026-03-01", "invalid", "_lastUpdated", "not a prefix"),
    ("/fhir/Task?_lastUpdated=2026-02-30", "invalid", "_lastUpdated", "not a date on the calendar"),
    ("/fhir/Task?_lastUpdated=last+week", "invalid", "_lastUpdated", "not a date"),
    ("/fhir/Task?_lastUpdated=ge1850-01-01", "invalid", "_lastUpdated", "1900 to 2199"),
    ("/fhir/Task?patient=Practitioner/1", "invalid", "patient", "not a Patient reference"),
    ("/fhir/Task?patient=Patient/abc", "invalid", "patient", "not a Patient reference"),
    ("/fhir/Task?owner=99999999999", "invalid", "owner", "not a Practitioner reference"),
    ("/fhir/Patient?identifier=%00x", "invalid", "identifier", "control character"),
    ("/fhir/Patient?identifier=" + "9" * 301, "invalid", "identifier", "longer than"),
    ("/fhir/Practitioner?name=Kim", "not-supported", "name", "not a search parameter of Practitioner"),
    ("/fhir/Observation?code:text=birads", "not-supported", "code:text", "modifier"),
]


def test_a_refused_search_is_a_400_operation_outcome_naming_the_parameter(fhir):
    for path, code, parameter, words in REFUSED_SEARCHES:  # one client for all: signing in users is slow
        issue = outcome(fhir.get(path), 400)
        assert (issue["code"], issue["expression"]) == (code, [parameter]), path
        assert words in issue["diagnostics"], (path, issue["diagnostics"])


def test_json_is_the_only_format(fhir, world):
    for path in ("/fhir/metadata", f"/fhir/Patient/{world.ada}", "/fhir/Task"):
        assert fhir.get(path, params={"_format": "json"}).status_code == 200
        assert fhir.get(path, params={"_format": "application/fhir+json"}).status_code == 200
        issue = outcome(fhir.get(path, params={"_format": "xml"}), 400)
        assert issue["code"] == "not-supported" and issue["expression"] == ["_format"], path


def test_a_page_larger_than_allowed_is_served_as_the_largest(fhir, world):
    bundle = fhir.get("/fhir/Task", params={"_count": 1000}).json()
    assert "_count=100" in bundle["link"][0]["url"]


def test_unknown_resources_addresses_and_methods_are_operation_outcomes(fhir, world):
    for path in ("/fhir/Task/999999", "/fhir/Task/abc", "/fhir/Task/99999999999", "/fhir/Patient/0",
                 "/fhir/Observation/2-nothing", "/fhir/Communication/-1"):  # fmt: skip
        issue = outcome(fhir.get(path), 404)
        assert issue["code"] == "not-found" and "there is no" in issue["diagnostics"], path
    for path in ("/fhir/Foo", "/fhir/Foo/1", "/fhir", "/fhir/Task/1/_history"):
        issue = outcome(fhir.get(path), 404)
        assert issue["code"] == "not-supported" and "/fhir/metadata" in issue["diagnostics"], path
    for method, path in (("POST", "/fhir/Task"), ("DELETE", "/fhir/Task/1"), ("PUT", "/fhir/Patient/1"),
                         ("PATCH", "/fhir/Observation/1-birads"), ("POST", "/fhir/metadata")):  # fmt: skip
        response = fhir.request(method, path, json={"resourceType": "Task"})
        issue = outcome(response, 405)
        assert issue["code"] == "not-supported" and "read-only" in issue["diagnostics"]
        assert response.headers["allow"] == "GET"


def test_signing_in_is_as_for_the_api(app, world, api_for, browser_for, committed, users):
    anonymous = TestClient(app)
    for path in ("/fhir/metadata", "/fhir/Task", f"/fhir/Patient/{world.ada}", "/fhir/Nothing"):
        response = anonymous.get(path)
        if path == "/fhir/Nothing":
            assert response.status_code == 404  # no such route: nothing to sign in to
            continue
        issue = outcome(response, 401)
        assert issue["code"] == "login" and response.headers["www-authenticate"] == "Bearer"
    forged = TestClient(app, headers={"Authorization": "Bearer not-a-token"})
    assert outcome(forged.get("/fhir/Task"), 401)["code"] == "login"
    for role in Role:
        assert api_for(role.value).get("/fhir/Task").status_code == 200, role
    assert browser_for("radiologist").get("/fhir/Task").status_code == 200  # a browser session reads too
    # Every role may read, so no FHIR route answers 403 (the role matrix calls each as each role).
    assert {roles for (method, path), roles in ROUTE_ROLES.items() if path.startswith("/fhir")} == {READ}
    gone = api_for("ops")
    with Session(committed) as session:
        disable_user(session, users["ops"], actor="test", now=datetime.now(UTC))
        session.commit()
    assert outcome(gone.get("/fhir/Task"), 401)["code"] == "login"
    with committed.connect() as connection:
        denials = connection.execute(text("SELECT detail FROM audit_log WHERE action = 'request.denied'")).scalars()
        assert {"method": "GET", "path": "/fhir/Task", "status": 401} in list(denials)


def test_reads_and_searches_are_audited_with_ids_only(fhir, world, committed):
    fhir.get("/fhir/Patient", params={"identifier": ADA["mrn"]})
    fhir.get(f"/fhir/Task/{world.magnification_step}")
    fhir.get("/fhir/Observation", params={"patient": f"Patient/{world.ada}", "code": "birads-assessment"})
    with committed.connect() as connection:
        rows = connection.execute(
            text("SELECT action, case_id, detail FROM audit_log WHERE action LIKE 'fhir.%' ORDER BY id")
        ).all()
    assert [(action, case_id, detail["type"], detail["count"]) for action, case_id, detail in rows] == [
        ("fhir.searched", None, "Patient", 1),
        ("fhir.read", world.ada_case, "Task", 1),
        ("fhir.searched", None, "Observation", 2),
    ]
    assert rows[0][2]["patient_ids"] == [world.ada] and rows[0][2]["parameters"] == ["identifier"]
    assert rows[2][2]["case_ids"] == [world.ada_case] and rows[2][2]["parameters"] == ["code", "patient"]
    written = json.dumps([detail for _, _, detail in rows])
    assert ADA["mrn"] not in written and ADA["given_name"] not in written and ADA["family_name"] not in written


def test_no_patient_data_in_the_logs(fhir, world, caplog):
    caplog.set_level(logging.DEBUG)
    for name in ("httpx", "httpcore", "asyncio"):  # wire bytes at DEBUG: the test client's, not the app's
        caplog.set_level(logging.WARNING, logger=name)
    caplog.set_level(logging.INFO, logger="sqlalchemy.engine")  # every statement; rows (DEBUG) are not logged
    marks = [ADA["mrn"], ADA["given_name"], ADA["family_name"], ADA["birth_date"], "555 0101", "5550101",
             "Elm Street"]  # fmt: skip
    fhir.get("/fhir/Patient", params={"identifier": ADA["mrn"]})
    fhir.get("/fhir/Patient", params={"identifier:exact": ADA["mrn"]})
    fhir.get("/fhir/Patient", params={"identifier": ADA["mrn"] + "\x01"})
    fhir.get(f"/fhir/Patient/{world.ada}")
    fhir.get("/fhir/Patient/" + ADA["mrn"])
    fhir.get("/fhir/Task", params={"_lastUpdated": ADA["birth_date"] + "T99:00"})
    fhir.get("/fhir/Communication", params={"patient": str(world.ada)})
    assert caplog.records, "nothing captured: the check would pass vacuously"
    logged = "\n".join(record.getMessage() + (record.exc_text or "") for record in caplog.records)
    assert not [mark for mark in marks if mark in logged], logged
    assert ADA_CONTACT["address"].split("\n")[0] not in logged


def statements_during(call) -> int:
    count = 0

    def counted(*_):
        nonlocal count
        count += 1

    engine = get_engine()
    event.listen(engine, "before_cursor_execute", counted)
    try:
        call()
    finally:
        event.remove(engine, "before_cursor_execute", counted)
    return count


def test_one_query_per_page_not_one_per_row(fhir, world):
    """A page is one statement whatever its size; counting matches that run past the page is one more."""
    fhir.get("/fhir/metadata")  # the token's first use is written down once; not part of what is counted
    for kind in ("Task", "ServiceRequest", "Observation", "DiagnosticReport", "Communication", "Patient"):

        def statements(**params) -> int:
            return statements_during(lambda: fhir.get(f"/fhir/{kind}", params=params))  # noqa: B023

        rows_only = statements(_count=50, _total="none")
        assert statements(_count=1, _total="none") == rows_only, kind  # a longer page adds no statement
        assert statements(_count=50) == rows_only, kind  # the page holds the last match: the total is known
        assert statements(_count=1) == rows_only + 1, kind  # matches past the page: counted once
