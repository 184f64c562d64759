"""Sign-in that protects without locking people out; sessions that time out; signed-in API docs; assignment.

The clock is the app's `get_now` dependency, set by each test; nothing sleeps.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlmodel import Session

from tests.web.conftest import PASSWORD, login_csrf
from tracking.users import service
from tracking.users.service import create_api_token, disable_user, throttle_delay
from tracking.web.deps import get_now

T0 = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)


@pytest.fixture
def clock(app):
    """The app's clock: set `clock.now`, or move it with `clock.advance(...)`."""

    class Clock:
        now = T0

        def advance(self, **delta) -> None:
            self.now += timedelta(**delta)

    moment = Clock()
    app.dependency_overrides[get_now] = lambda: moment.now
    yield moment
    app.dependency_overrides.pop(get_now, None)


def from_address(app, host: str) -> TestClient:
    return TestClient(app, client=(host, 50000))


def sign_in(client: TestClient, username: str, password: str, **headers: str):
    return client.post("/login", data={"username": username, "password": password, "csrf_token": login_csrf(client)},
                       headers=headers, follow_redirects=False)  # fmt: skip


def scalar(engine, sql: str, **params):
    with engine.connect() as connection:
        return connection.execute(text(sql), params).scalar_one()


# --- throttling per (account, address) -----------------------------------------------------------


def test_failures_from_one_address_never_lock_the_account_out_from_another(app, users, clock):
    attacker = from_address(app, "127.0.0.3")
    answers = [sign_in(attacker, users["navigator"], "wrong-password").status_code for _ in range(6)]
    assert answers == [401, 401, 401, 401, 401, 429]
    navigator = from_address(app, "127.0.0.4")
    assert sign_in(navigator, users["navigator"], PASSWORD).status_code == 303
    assert navigator.get("/worklist", follow_redirects=False).status_code == 200


def test_the_delay_grows_per_failure_and_a_right_password_waits_it_out(app, users, clock, committed):
    client = from_address(app, "127.0.0.3")
    for _ in range(5):
        assert sign_in(client, users["navigator"], "wrong-password").status_code == 401
    blocked = sign_in(client, users["navigator"], PASSWORD)  # even the right password waits here
    assert blocked.status_code == 429 and "Too many failed sign-ins" in blocked.text
    assert blocked.headers["Retry-After"] == "30"
    clock.advance(seconds=30)
    assert sign_in(client, users["navigator"], "wrong-password").status_code == 401  # the 6th failure
    doubled = sign_in(client, users["navigator"], PASSWORD)
    assert doubled.status_code == 429 and doubled.headers["Retry-After"] == "60"
    clock.advance(seconds=60)
    assert sign_in(client, users["navigator"], PASSWORD).status_code == 303
    # a success forgets this address's failures for this account
    assert scalar(committed, "SELECT count(*) FROM login_failures WHERE client = '127.0.0.3'") == 0


def test_the_delay_is_capped():
    assert throttle_delay(4, T0, T0) == timedelta(0)
    assert throttle_delay(5, T0, T0) == timedelta(seconds=30)
    assert throttle_delay(7, T0, T0) == timedelta(minutes=2)
    assert throttle_delay(50, T0, T0) == timedelta(minutes=15)
    assert throttle_delay(10_000, T0, T0 + timedelta(minutes=15)) == timedelta(0)


def test_an_unknown_name_is_throttled_like_a_real_one(app, users, clock):
    client = from_address(app, "127.0.0.5")
    answers = [sign_in(client, "nobody-here", "wrong-password").status_code for _ in range(6)]
    assert answers == [401, 401, 401, 401, 401, 429]


def test_x_forwarded_for_is_ignored_unless_the_peer_is_a_trusted_proxy(app, users, clock, monkeypatch):
    from tracking.settings import get_settings

    client = from_address(app, "127.0.0.1")
    for number in range(5):  # a new forged address every time: still one address, the peer's
        assert (
            sign_in(client, users["ops"], "wrong-password", **{"X-Forwarded-For": f"10.9.9.{number}"}).status_code
            == 401
        )
    assert sign_in(client, users["ops"], PASSWORD, **{"X-Forwarded-For": "10.9.9.99"}).status_code == 429

    monkeypatch.setenv("WORKUP_TRUSTED_PROXIES", "127.0.0.1, 192.168.0.0/16")
    get_settings.cache_clear()
    try:
        # Behind the trusted proxy, the client's own address counts: another client is not slowed down.
        proxied = sign_in(client, users["ops"], PASSWORD, **{"X-Forwarded-For": "203.0.113.7, 192.168.1.1"})
        assert proxied.status_code == 303
        untrusted = from_address(app, "127.0.0.6")  # a peer that is no proxy cannot pick its address
        for _ in range(5):
            sign_in(untrusted, users["read_only"], "wrong-password", **{"X-Forwarded-For": "203.0.113.8"})
        assert sign_in(untrusted, users["read_only"], PASSWORD, **{"X-Forwarded-For": "203.0.113.9"}).status_code == 429
    finally:
        monkeypatch.delenv("WORKUP_TRUSTED_PROXIES")
        get_settings.cache_clear()


def test_trusted_proxies_must_be_addresses_or_networks(monkeypatch):
    from pydantic import ValidationError

    from tracking.settings import Settings

    monkeypatch.setenv("WORKUP_TRUSTED_PROXIES", "10.0.0.1 proxy.example")
    with pytest.raises(ValidationError, match="proxy.example"):
        Settings()
    monkeypatch.setenv("WORKUP_TRUSTED_PROXIES", "10.0.0.1, 2001:db8::/32")
    assert [str(network) for network in Settings().trusted_proxy_networks] == ["10.0.0.1/32", "2001:db8::/32"]


def test_unknown_disabled_and_wrong_all_cost_one_password_check(app, users, clock, committed, monkeypatch):
    with Session(committed) as session:
        disable_user(session, users["radiologist"], actor="test", now=T0)
        session.commit()
    checks: list[bool] = []
    real = service.verify_password
    monkeypatch.setattr(service, "verify_password", lambda *args: checks.append(True) or real(*args))
    client = from_address(app, "127.0.0.7")
    for name, password in [("nobody-here", PASSWORD), (users["radiologist"], PASSWORD),
                           (users["navigator"], "wrong-password")]:  # fmt: skip
        checks.clear()
        response = sign_in(client, name, password)
        assert response.status_code == 401 and "do not match" in response.text, name
        assert len(checks) == 1, name


# --- CSRF on the sign-in form ----------------------------------------------------------------------


def test_the_sign_in_form_needs_its_csrf_token(app, users, clock, committed):
    client = from_address(app, "127.0.0.8")
    form = {"username": users["navigator"], "password": PASSWORD}
    assert client.post("/login", data=form, follow_redirects=False).status_code == 403
    token = login_csrf(client)
    assert client.post("/login", data={**form, "csrf_token": token + "x"}, follow_redirects=False).status_code == 403
    fresh = TestClient(app)  # a token copied from another browser, without its cookie
    assert fresh.post("/login", data={**form, "csrf_token": token}, follow_redirects=False).status_code == 403
    assert scalar(committed, "SELECT count(*) FROM user_sessions") == 0
    assert client.post("/login", data={**form, "csrf_token": token}, follow_redirects=False).status_code == 303
    cookie = TestClient(app).get("/login").headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "path=/login" in cookie


# --- idle and absolute timeouts, last_seen_at, logout ---------------------------------------------


def test_an_idle_session_ends_and_an_active_one_lasts_until_its_absolute_timeout(app, users, clock, committed):
    client = from_address(app, "127.0.0.9")
    assert sign_in(client, users["navigator"], PASSWORD).status_code == 303
    for _ in range(3):  # active: a request every 29 minutes keeps it alive past the 30-minute idle limit
        clock.advance(minutes=29)
        assert client.get("/worklist", follow_redirects=False).status_code == 200
    clock.advance(minutes=31)
    idle = client.get("/worklist", follow_redirects=False)
    assert idle.status_code == 303 and idle.headers["location"].startswith("/login")
    assert client.get("/api/alerts").status_code == 401

    assert sign_in(client, users["navigator"], PASSWORD).status_code == 303
    start = clock.now
    while clock.now < start + timedelta(hours=12) - timedelta(minutes=20):
        clock.advance(minutes=20)
        assert client.get("/api/alerts").status_code == 200, clock.now - start
    clock.now = start + timedelta(hours=12)
    assert client.get("/api/alerts").status_code == 401  # the absolute timeout, however active


def test_last_seen_at_is_written_at_most_once_a_minute(app, users, clock, committed):
    client = from_address(app, "127.0.0.10")
    assert sign_in(client, users["ops"], PASSWORD).status_code == 303
    seen = "SELECT last_seen_at FROM user_sessions"
    clock.advance(seconds=30)
    assert client.get("/api/alerts").status_code == 200
    assert scalar(committed, seen) == T0
    clock.advance(seconds=40)
    assert client.get("/api/alerts").status_code == 200
    assert scalar(committed, seen) == T0 + timedelta(seconds=70)


def test_idle_minutes_and_session_hours_are_settings(app, users, clock, monkeypatch):
    from tracking.settings import get_settings

    monkeypatch.setenv("WORKUP_SESSION_IDLE_MINUTES", "5")
    monkeypatch.setenv("WORKUP_SESSION_HOURS", "1")
    get_settings.cache_clear()
    try:
        client = from_address(app, "127.0.0.11")
        response = sign_in(client, users["ops"], PASSWORD)
        assert "max-age=3600" in response.headers["set-cookie"].lower()
        clock.advance(minutes=4)
        assert client.get("/api/alerts").status_code == 200
        clock.advance(minutes=6)
        assert client.get("/api/alerts").status_code == 401
    finally:
        monkeypatch.delenv("WORKUP_SESSION_IDLE_MINUTES")
        monkeypatch.delenv("WORKUP_SESSION_HOURS")
        get_settings.cache_clear()


def test_logout_ends_the_session_and_is_audited(app, browser_for, committed):
    browser = browser_for("navigator")
    assert browser.post_form("/logout").status_code == 303
    assert browser.get("/worklist").status_code == 303
    assert scalar(committed, "SELECT count(*) FROM user_sessions WHERE ended_at IS NULL") == 0
    assert scalar(committed, "SELECT actor FROM audit_log WHERE action = 'user.signed_out'") == "u-navigator"


# --- the API schema and docs ------------------------------------------------------------------------


def test_openapi_and_docs_need_a_session_or_a_token(app, browser_for, api_for):
    anonymous = TestClient(app)
    schema = anonymous.get("/openapi.json", follow_redirects=False)
    assert schema.status_code == 303 and schema.headers["location"].startswith("/login")
    assert anonymous.get("/api/docs", follow_redirects=False).status_code == 401
    assert anonymous.get("/docs/oauth2-redirect", follow_redirects=False).status_code in (303, 404)

    for client in (browser_for("read_only").client, api_for("ops")):
        schema = client.get("/openapi.json", follow_redirects=False)
        assert schema.status_code == 200 and "/api/cases/{case_id}/events" in schema.json()["paths"]
        docs = client.get("/api/docs", follow_redirects=False)
        assert docs.status_code == 200 and "/openapi.json" in docs.text
    bad_token = TestClient(app, headers={"Authorization": "Bearer bw_not-a-token"})
    assert bad_token.get("/openapi.json", follow_redirects=False).status_code == 303


# --- assignment only to active navigators ------------------------------------------------------------


def test_cases_are_assigned_to_active_navigators_only(app, browser_for, users, seeded_case, committed):
    from tracking.users.service import create_user

    with Session(committed) as session:
        create_user(session, username="kim", display_name="Kim", role="navigator", password=PASSWORD,
                    actor="test", now=T0)  # fmt: skip
        disable_user(session, "kim", actor="test", now=T0)
        session.commit()
    admin = browser_for("admin")
    assigned = f"SELECT coalesce(navigator_id, 0) FROM cases WHERE id = {seeded_case}"
    for name, why in [("kim", "disabled"), (users["radiologist"], "radiologist, not a navigator"),
                      ("nobody-here", "not a user")]:  # fmt: skip
        refused = admin.post_form(f"/cases/{seeded_case}/assign", {"navigator": name})
        assert refused.status_code == 422, name
        assert why in refused.text and "active navigators only" in refused.text
        assert scalar(committed, assigned) == 0
    assert admin.post_form(f"/cases/{seeded_case}/assign", {"navigator": users["navigator"]}).status_code == 303
    navigator_id = scalar(committed, "SELECT id FROM users WHERE username = 'u-navigator'")
    assert scalar(committed, assigned) == navigator_id
    page = admin.get(f"/cases/{seeded_case}").text
    assert not re.search(r'<option[^>]*value="kim"', page)  # the form never offers a disabled navigator


def test_an_api_token_still_works_after_sign_out_everywhere(app, users, committed):
    with Session(committed) as session:
        token = create_api_token(session, users["ops"], name="t", actor="test", now=T0)
        session.commit()
    with Session(committed) as session:
        assert service.sign_out_everywhere(session, users["ops"], actor="test", now=T0) == 0
        session.commit()
    assert TestClient(app, headers={"Authorization": f"Bearer {token}"}).get("/api/alerts").status_code == 200
