"""Security headers on every response: no-store on pages and the API, a strict CSP, no framing."""

from __future__ import annotations

import re

PAGES = ["/worklist", "/worklist?mine=1", "/ops", "/audit", "/worklist.csv", "/ops/export/overdue.csv"]


def directives(policy: str) -> dict[str, list[str]]:
    parsed = {}
    for part in policy.split(";"):
        words = part.split()
        if words:
            parsed[words[0]] = words[1:]
    return parsed


def assert_protected(response, *, cacheable: bool = False) -> None:
    headers = response.headers
    where = f"{response.request.method} {response.request.url} -> {response.status_code}"
    policy = directives(headers.get("content-security-policy", ""))
    assert policy.get("frame-ancestors") == ["'none'"], where
    assert "'unsafe-inline'" not in policy.get("script-src", ["'unsafe-inline'"]), where
    assert "'unsafe-eval'" not in policy["script-src"], where
    assert policy.get("default-src") == ["'none'"], where
    assert "'unsafe-inline'" not in policy.get("style-src", []), where  # only style attributes (style-src-attr)
    assert headers.get("x-frame-options") == "DENY", where
    assert headers.get("referrer-policy") in ("no-referrer", "same-origin"), where
    assert headers.get("x-content-type-options") == "nosniff", where
    if cacheable:
        assert "no-store" not in headers.get("cache-control", ""), where
    else:
        assert headers.get("cache-control") == "no-store", where


def test_pages_exports_and_case_carry_the_headers(browser_for, seeded_case):
    admin = browser_for("admin")
    for path in [*PAGES, f"/cases/{seeded_case}", "/audit.csv"]:
        response = admin.get(path)
        assert response.status_code == 200, (path, response.status_code)
        assert_protected(response)


def test_api_answers_and_errors_carry_the_headers(api_for, app, seeded_case):
    from fastapi.testclient import TestClient

    api = api_for("navigator")
    for path in ["/api/overdue", f"/api/cases/{seeded_case}", "/api/alerts", "/api/cases/999999"]:
        assert_protected(api.get(path))
    anonymous = TestClient(app)
    for path in ["/api/overdue", "/worklist", "/login", "/healthz", "/no-such-page"]:
        assert_protected(anonymous.get(path, follow_redirects=False))
    assert_protected(anonymous.post("/login", data={"username": "x", "password": "y"}, follow_redirects=False))


def test_static_assets_may_be_cached_but_are_still_protected(app):
    from fastapi.testclient import TestClient

    client = TestClient(app)
    for path in ["/static/app.css", "/static/htmx-2.0.11.min.js"]:
        response = client.get(path)
        assert response.status_code == 200
        assert_protected(response, cacheable=True)


def test_pages_have_no_inline_script_and_htmx_runs_without_eval(browser_for, seeded_case):
    navigator = browser_for("navigator")
    for path in ["/worklist", f"/cases/{seeded_case}", "/ops"]:
        html = navigator.get(path).text
        for tag in re.findall(r"<script\b[^>]*>", html):
            assert re.search(r'\bsrc="/static/', tag), (path, tag)  # every script is a same-origin file
        assert not re.search(r"\son[a-z]+=", html), path  # no inline event handlers
        assert '"allowEval": false' in html and '"includeIndicatorStyles": false' in html
        assert '"historyCacheSize": 0' in html  # htmx keeps no page snapshot (patient names) in sessionStorage


def test_api_docs_get_their_own_policy_and_no_store(api_for):
    response = api_for("read_only").get("/api/docs")
    assert response.status_code == 200
    policy = directives(response.headers["content-security-policy"])
    assert policy["frame-ancestors"] == ["'none'"]
    assert response.headers["cache-control"] == "no-store"
