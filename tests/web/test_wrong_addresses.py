"""A mistyped address gets a page that says what is wrong, never a bare "Internal Server Error"."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize(
    "path",
    ["/cases/abc", "/cases/0", "/cases/-1", "/cases/99999999999", "/cases/1.5", "/cases/%00", "/cases/999999",
     "/nowhere", "/cases/abc/event-form", "/alerts/abc/ack-form"],
)  # fmt: skip
def test_a_wrong_case_address_is_a_not_found_page(browser_for, path):
    response = browser_for("navigator").get(path)
    assert response.status_code == 404, (path, response.status_code, response.text[:300])
    assert response.headers["content-type"].startswith("text/html")
    assert "<h1>Not found</h1>" in response.text
    assert "Back to the worklist" in response.text
    assert "There is no " in response.text or "does not exist" in response.text


def test_a_wrong_api_address_is_refused_in_json(api_for):
    response = api_for("navigator").get("/api/cases/abc")
    assert response.status_code == 422
    assert "case_id" in response.json()["error"]
