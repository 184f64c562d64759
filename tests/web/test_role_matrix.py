"""Every route × every role: who may do what, and nobody anonymous (except /login and /healthz)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.factories import SUSPICIOUS_MAG
from tracking.users.roles import Role

ALL = set(Role)
NAV = {Role.navigator}
CLINICAL = {Role.navigator, Role.radiologist}
EXPORTERS = {Role.ops, Role.admin}
ADMIN = {Role.admin}

# (method, path, body kind, roles allowed). {case} is the seeded case; {alert} one of its alerts.
ROUTES = [
    ("GET", "/", None, ALL),
    ("GET", "/worklist", None, ALL),
    ("GET", "/worklist?mine=1", None, ALL),
    ("GET", "/cases/{case}", None, ALL),
    ("GET", "/cases/{case}/event-form?kind=magnification_result", None, ALL),
    ("GET", "/ops", None, ALL),
    ("GET", "/audit", None, ADMIN),
    ("GET", "/audit.csv", None, ADMIN),
    ("GET", "/worklist.csv", None, EXPORTERS),
    ("GET", "/ops/export/overdue.csv", None, EXPORTERS),
    ("GET", "/ops/export/lost_to_follow_up.csv", None, EXPORTERS),
    ("GET", "/ops/export/priors_outstanding.csv", None, EXPORTERS),
    ("GET", "/ops/export/case_timeliness.csv", None, EXPORTERS),
    ("POST", "/cases/{case}/events", "form-magnification", CLINICAL),
    ("POST", "/cases/{case}/events", "form-letter", NAV),
    ("POST", "/cases/{case}/assign", "form-assign", {Role.navigator, Role.admin}),
    ("POST", "/alerts/{alert}/ack", "form-ack", NAV),
    ("POST", "/logout", "form-empty", ALL),
    ("GET", "/api/cases/{case}", None, ALL),
    ("GET", "/api/overdue", None, ALL),
    ("GET", "/api/alerts", None, ALL),
    ("POST", "/api/cases", "json-case", NAV),
    ("POST", "/api/cases/{case}/events", "json-magnification", CLINICAL),
    ("POST", "/api/cases/{case}/events", "json-letter", NAV),
    ("POST", "/api/alerts/{alert}/ack", "json-ack", NAV),
]

BODIES = {
    "form-magnification": {"kind": "magnification_result", **SUSPICIOUS_MAG},
    "form-letter": {"kind": "result_letter_sent", "density_sentence_included": "true"},
    "form-assign": {"navigator": "u-navigator"},
    "form-ack": {"reason": "Seen by the matrix"},
    "form-empty": {},
    "json-case": {"mrn": "MATRIX-1", "given_name": "Mat", "family_name": "Rix", "birth_date": "1970-01-01",
                  "laterality": "left", "density": "b"},
    "json-magnification": {"kind": "magnification_result", "data": SUSPICIOUS_MAG},
    "json-letter": {"kind": "result_letter_sent", "data": {"density_sentence_included": True}},
    "json-ack": {"reason": "Seen by the matrix"},
}  # fmt: skip


@pytest.fixture
def targets(seeded_case, committed):
    from datetime import UTC, datetime

    from sqlalchemy import text
    from sqlmodel import Session

    from tracking.alerts.sweep import sweep_overdue

    with Session(committed) as session:
        session.execute(text("UPDATE steps SET due_at = due_at - interval '10 days'"))
        sweep_overdue(session, datetime.now(UTC))
        session.commit()
        alert_id = session.execute(text("SELECT min(id) FROM alerts")).scalar_one()
    return {"case": seeded_case, "alert": alert_id}


def call(client, csrf: str | None, method: str, path: str, body_kind: str | None):
    if method == "GET":
        return client.get(path, follow_redirects=False)
    body = BODIES[body_kind]
    if body_kind.startswith("form"):
        return client.post(path, data={"csrf_token": csrf or "", **body}, follow_redirects=False)
    return client.post(path, json=body, headers={"X-CSRF-Token": csrf or ""}, follow_redirects=False)


@pytest.mark.parametrize("role", [role.value for role in Role])
def test_role_matrix(role, browser_for, targets):
    browser = browser_for(role)
    for method, template, body_kind, allowed in ROUTES:
        path = template.format(**targets)
        response = call(browser.client, browser.csrf, method, path, body_kind)
        if role in allowed:
            assert response.status_code not in (401, 403), f"{role} {method} {path}: {response.status_code}"
            assert response.status_code < 500, f"{role} {method} {path}: {response.status_code}"
        else:
            assert response.status_code == 403, f"{role} {method} {path}: {response.status_code} (expected 403)"
        if template == "/logout" and role in allowed:
            browser = browser_for(role)  # signed out: sign in again for the rest


def test_anonymous_may_only_sign_in_and_check_health(app, targets):
    client = TestClient(app)
    assert client.get("/login").status_code == 200
    assert client.get("/healthz").status_code == 200
    for method, template, body_kind, _ in ROUTES:
        path = template.format(**targets)
        response = call(client, None, method, path, body_kind)
        if path.startswith("/api"):
            assert response.status_code == 401, f"{method} {path}: {response.status_code}"
        else:
            assert response.status_code == 303, f"{method} {path}: {response.status_code}"
            assert response.headers["location"].startswith("/login")


def test_a_form_post_without_the_csrf_token_is_refused(browser_for, targets, committed):
    from sqlalchemy import text

    browser = browser_for("navigator")

    def events() -> int:
        with committed.connect() as connection:
            return connection.execute(text("SELECT count(*) FROM case_events")).scalar_one()

    before = events()
    response = browser.client.post(
        f"/cases/{targets['case']}/events", data=BODIES["form-letter"], follow_redirects=False
    )
    assert response.status_code == 403
    other_site = browser.client.post(
        f"/cases/{targets['case']}/events", data={"csrf_token": "forged", **BODIES["form-letter"]}
    )
    assert other_site.status_code == 403
    assert events() == before


def test_sign_in_is_rate_limited(app, users):
    client = TestClient(app)
    for _ in range(5):
        assert client.post("/login", data={"username": users["navigator"], "password": "wrong"}).status_code == 401
    blocked = client.post("/login", data={"username": users["navigator"], "password": "correct-horse-battery"})
    assert blocked.status_code == 429 and "Too many failed sign-ins" in blocked.text


def test_session_cookie_is_httponly_and_samesite(app, users):
    response = TestClient(app).post("/login", data={"username": users["ops"], "password": "correct-horse-battery"},
                                    follow_redirects=False)  # fmt: skip
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie


def test_open_redirects_are_refused(app, users):
    response = TestClient(app).post(
        "/login", data={"username": users["ops"], "password": "correct-horse-battery", "next": "//evil.example/x"},
        follow_redirects=False,
    )  # fmt: skip
    assert response.headers["location"] == "/worklist"
