"""Every route of the app × every role and anonymous, generated from the app's own route table.

What each role may call is declared once, in tracking/users/roles.py (ROUTE_ROLES, PUBLIC_ROUTES,
may_record). A route the app serves that is not declared there fails the test, so a new route
cannot slip past the matrix.
"""

from __future__ import annotations

from itertools import product
from string import Formatter

import pytest
from fastapi.testclient import TestClient
from starlette.routing import Mount

from tests.factories import SUSPICIOUS_MAG
from tests.web.conftest import PASSWORD, login_csrf
from tracking.users.roles import EVENT_ROUTES, PUBLIC_MOUNTS, PUBLIC_ROUTES, ROUTE_ROLES, Role, may_call
from tracking.web.routes_ops import EXPORTS

IGNORED_METHODS = {"HEAD", "OPTIONS"}  # answered like GET / by the framework

# Query strings to call a route with (one call each); "" when none is listed.
QUERIES = {
    ("GET", "/worklist"): ["", "mine=1", "view=all&birads=4-5&q=DEMO"],
    ("GET", "/screening"): ["", "due=overdue", "due=within&days=30"],
    ("GET", "/api/screening"): ["", "overdue=true", "due_within=30"],
    ("GET", "/cases/{case_id}/event-form"): ["kind=magnification_result", "kind=result_letter_sent"],
    ("GET", "/cases/new/patient"): ["", "mrn=TEST-SEED-1"],
}

# Bodies for the writes: (form or json, body, event kind when the route records events). Routes not
# listed get an empty body of their kind: allowed roles then see a 4xx other than 401/403.
BODIES = {
    ("POST", "/cases/{case_id}/events"): [
        ("form", {"kind": "magnification_result", **SUSPICIOUS_MAG}, "magnification_result"),
        ("form", {"kind": "result_letter_sent", "density_sentence_included": "true"}, "result_letter_sent"),
    ],
    ("POST", "/cases/{case_id}/assign"): [("form", {"navigator": "u-navigator"}, None)],
    ("POST", "/alerts/{alert_id}/ack"): [("form", {"reason": "Seen by the matrix"}, None)],
    ("POST", "/api/cases"): [
        ("json", {"mrn": "MATRIX-1", "given_name": "Mat", "family_name": "Rix", "birth_date": "1970-01-01",
                  "laterality": "left", "density": "b"}, None),
    ],
    ("POST", "/api/cases/{case_id}/events"): [
        ("json", {"kind": "magnification_result", "data": SUSPICIOUS_MAG}, "magnification_result"),
        ("json", {"kind": "result_letter_sent", "data": {"density_sentence_included": True}}, "result_letter_sent"),
    ],
    ("POST", "/api/alerts/{alert_id}/ack"): [("json", {"reason": "Seen by the matrix"}, None)],
    ("POST", "/cases/{case_id}/notes"): [("form", {"body": "Seen by the matrix"}, None)],
    ("POST", "/cases/{case_id}/tasks/{task_id}/close"): [("form", {"outcome": "done"}, None)],
}  # fmt: skip


def app_routes(app) -> list[tuple[str, str]]:
    """(method, path template) of every route the app serves, included routers and all."""
    try:
        from fastapi.routing import iter_route_contexts

        contexts = [(context.path, getattr(context, "methods", None), context.route)
                    for context in iter_route_contexts(app.routes)]  # fmt: skip
    except ImportError:  # FastAPI before lazily included routers: app.routes is already flat
        contexts = [(route.path, getattr(route, "methods", None), route) for route in app.routes]
    found = []
    for path, methods, route in contexts:
        if isinstance(route, Mount):
            assert path in PUBLIC_MOUNTS, f"mount {path} is not declared in tracking/users/roles.py"
            continue
        found += [(method, path) for method in sorted(set(methods or ()) - IGNORED_METHODS)]
    return found


def test_every_route_is_declared_and_every_declaration_is_a_route(app):
    served = set(app_routes(app))
    undeclared = sorted(served - set(ROUTE_ROLES) - PUBLIC_ROUTES)
    assert not undeclared, f"routes with no roles in tracking/users/roles.py ROUTE_ROLES: {undeclared}"
    stale = sorted((set(ROUTE_ROLES) | PUBLIC_ROUTES | EVENT_ROUTES) - served)
    assert not stale, f"declared in tracking/users/roles.py but not served: {stale}"
    assert {("GET", "/login"), ("POST", "/login"), ("GET", "/healthz")} == PUBLIC_ROUTES


def calls(app, targets) -> list[tuple[str, str, str, tuple | None]]:
    """(method, route template, concrete path with query, (kind, body, event kind) or None) for every call."""
    values = {
        "case_id": [targets["case"]],
        "alert_id": [targets["alert"]],
        "task_id": [targets["task"]],
        "facility_id": [targets["facility"]],
        "letter_id": [targets["letter"]],
        "item_id": [1],  # an HL7 inbox item; none is queued here, so the roles allowed get 404
        "name": list(EXPORTS),
        "resource_id": ["1"],  # /fhir/<Type>/<id>: a 200 or a 404, never 401 or 403 for a reader
    }
    result = []
    for method, template in app_routes(app):
        names = [name for _, name, _, _ in Formatter().parse(template) if name]
        missing = [name for name in names if name not in values]
        assert not missing, f"{method} {template}: no value to fill {missing} with; add one to the matrix"
        for filling in product(*(values[name] for name in names)):
            path = template.format(**dict(zip(names, filling, strict=True)))
            for query in QUERIES.get((method, template), [""]):
                full = f"{path}?{query}" if query else path
                if method == "GET":
                    result.append((method, template, full, None))
                    continue
                default = ("json", {}, None) if template.startswith("/api") else ("form", {}, None)
                for body in BODIES.get((method, template), [default]):
                    result.append((method, template, full, body))
    return result


def call(client: TestClient, csrf: str | None, method: str, path: str, body: tuple | None):
    if body is None:
        return client.request(method, path, follow_redirects=False)
    kind, data, _ = body
    if kind == "form":
        return client.request(method, path, data={"csrf_token": csrf or "", **data}, follow_redirects=False)
    return client.request(method, path, json=data, headers={"X-CSRF-Token": csrf or ""}, follow_redirects=False)


@pytest.fixture
def targets(seeded_case, committed):
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import text
    from sqlmodel import Session

    from tracking.alerts.sweep import sweep_overdue
    from tracking.letters.service import produce_letter
    from tracking.navigation.tasks import add_task

    with Session(committed) as session:
        session.execute(text("UPDATE steps SET due_at = due_at - interval '10 days'"))
        sweep_overdue(session, datetime.now(UTC))
        session.commit()
        alert_id = session.execute(text("SELECT min(id) FROM alerts")).scalar_one()
        facility_id = session.execute(text("SELECT min(id) FROM outside_facilities")).scalar_one()
        task_id = add_task(session, seeded_case, "Matrix task", datetime.now(UTC) + timedelta(days=3), actor="test",
                           now=datetime.now(UTC)).id  # fmt: skip
        letter_id = produce_letter(session, seeded_case, "result", channel="portal", actor="test",
                                   now=datetime.now(UTC))[0].id  # fmt: skip
        session.commit()
    return {"case": seeded_case, "alert": alert_id, "task": task_id, "facility": facility_id, "letter": letter_id}


@pytest.mark.parametrize("role", [role.value for role in Role])
def test_role_matrix(role, app, browser_for, targets):
    browser = browser_for(role)
    checked = 0
    for method, template, path, body in calls(app, targets):
        response = call(browser.client, browser.csrf, method, path, body)
        where = f"{role} {method} {path} {body[1] if body else ''}: {response.status_code}"
        if (method, template) in PUBLIC_ROUTES:
            assert response.status_code < 500, where
        elif may_call(role, method, template, body[2] if body else None):
            assert response.status_code not in (401, 403), where
            assert response.status_code < 500, where
        else:
            assert response.status_code == 403, f"{where} (expected 403)"
        checked += 1
        if template == "/logout" and response.status_code == 303:
            browser = browser_for(role)  # signed out: sign in again for the rest
    assert checked >= len(ROUTE_ROLES)


def test_anonymous_may_only_sign_in_and_check_health(app, targets):
    client = TestClient(app)
    for method, template, path, body in calls(app, targets):
        response = call(client, None, method, path, body)
        where = f"{method} {path}: {response.status_code}"
        if (method, template) in PUBLIC_ROUTES:
            assert response.status_code < 500 and response.status_code != 401, where
            if method == "GET":
                assert response.status_code == 200, where
        elif path.startswith(("/api/", "/fhir/")):
            assert response.status_code == 401, where
        else:
            assert response.status_code == 303, where
            assert response.headers["location"].startswith("/login"), where
    assert client.get("/static/app.css").status_code == 200  # assets are public; no 303 to /login


def test_a_form_post_without_the_csrf_token_is_refused(browser_for, targets, committed):
    from sqlalchemy import text

    browser = browser_for("navigator")

    def events() -> int:
        with committed.connect() as connection:
            return connection.execute(text("SELECT count(*) FROM case_events")).scalar_one()

    before = events()
    letter = {"kind": "result_letter_sent", "density_sentence_included": "true"}
    response = browser.client.post(f"/cases/{targets['case']}/events", data=letter, follow_redirects=False)
    assert response.status_code == 403
    other_site = browser.client.post(f"/cases/{targets['case']}/events", data={"csrf_token": "forged", **letter})
    assert other_site.status_code == 403
    assert events() == before


def test_session_cookie_is_httponly_and_samesite(app, users):
    client = TestClient(app)
    response = client.post("/login", data={"username": users["ops"], "password": PASSWORD,
                                           "csrf_token": login_csrf(client)}, follow_redirects=False)  # fmt: skip
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie


def test_open_redirects_are_refused(app, users):
    client = TestClient(app)
    response = client.post(
        "/login", data={"username": users["ops"], "password": PASSWORD, "next": "//evil.example/x",
                        "csrf_token": login_csrf(client)},
        follow_redirects=False,
    )  # fmt: skip
    assert response.headers["location"] == "/worklist"
