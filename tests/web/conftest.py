"""Web fixtures: one user per role, signed-in clients (cookie sessions and API tokens), a seeded case."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from tests.factories import seed_opening
from tracking.cases.opening import open_case
from tracking.users.roles import Role
from tracking.users.service import create_api_token, create_user

PASSWORD = "correct-horse-battery"


@pytest.fixture
def users(committed):
    """One active user per role; returns {role: username}."""
    now = datetime.now(UTC)
    with Session(committed) as session:
        for role in Role:
            create_user(session, username=f"u-{role.value.replace('_', '-')}", display_name=f"Test {role.value}",
                        role=role.value, password=PASSWORD, actor="test", now=now)  # fmt: skip
        session.commit()
    return {role.value: f"u-{role.value.replace('_', '-')}" for role in Role}


@pytest.fixture
def app():
    from tracking.web.app import create_app

    return create_app()


class Browser:
    """A TestClient signed in with a session cookie, which also knows its CSRF token."""

    def __init__(self, client: TestClient, csrf: str):
        self.client = client
        self.csrf = csrf

    def get(self, path: str, **kwargs):
        return self.client.get(path, follow_redirects=False, **kwargs)

    def post_form(self, path: str, data: dict | None = None, **kwargs):
        return self.client.post(path, data={"csrf_token": self.csrf, **(data or {})}, follow_redirects=False, **kwargs)

    def post_json(self, path: str, body: dict, **kwargs):
        headers = {"X-CSRF-Token": self.csrf, **kwargs.pop("headers", {})}
        return self.client.post(path, json=body, headers=headers, follow_redirects=False, **kwargs)


def login_csrf(client: TestClient) -> str:
    """The sign-in form's CSRF token (GET /login also sets its cookie on `client`)."""
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text).group(1)


@pytest.fixture
def browser_for(app, users):
    def sign_in(role: str) -> Browser:
        client = TestClient(app)
        response = client.post("/login", data={"username": users[role], "password": PASSWORD,
                                               "csrf_token": login_csrf(client)}, follow_redirects=False)  # fmt: skip
        assert response.status_code == 303, response.text
        page = client.get("/worklist")
        csrf = re.search(r'"X-CSRF-Token": "([^"]+)"', page.text).group(1)
        return Browser(client, csrf)

    return sign_in


@pytest.fixture
def api_for(app, users, committed):
    def client(role: str) -> TestClient:
        with Session(committed) as session:
            token = create_api_token(session, users[role], name="tests", actor="test", now=datetime.now(UTC))
            session.commit()
        return TestClient(app, headers={"Authorization": f"Bearer {token}"})

    return client


@pytest.fixture
def seeded_case(committed) -> int:
    with Session(committed) as session:
        case_id = open_case(session, seed_opening(), actor="test", now=datetime.now(UTC)).case_id
        session.commit()
    return case_id
