"""`workup user sign-out-everywhere` as an administrator runs it: a real process against the test database."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlmodel import Session

from tracking.users.service import create_api_token, create_user, session_user, start_session

WORKUP = str(Path(sys.executable).parent / "workup")


@pytest.fixture
def workup(database_url, committed):
    def run(*args: str) -> subprocess.CompletedProcess:
        environment = {**os.environ, "DATABASE_URL": database_url, "WORKUP_ACTOR": "admin:cli-test"}
        return subprocess.run([WORKUP, *args], capture_output=True, text=True, env=environment, timeout=120)

    return run


def test_sign_out_everywhere_ends_every_session_and_says_how_many(workup, committed):
    now = datetime.now(UTC)
    with Session(committed) as session:
        kim = create_user(session, username="kim", display_name="Kim Lee", role="navigator",
                          password="correct-horse-battery", actor="test", now=now)  # fmt: skip
        cookies = [start_session(session, kim, now=now)[0] for _ in range(2)]
        token = create_api_token(session, "kim", name="t", actor="test", now=now)
        session.commit()

    signed_out = workup("user", "sign-out-everywhere", "Kim")
    assert signed_out.returncode == 0, signed_out.stderr
    assert "kim: 2 sessions ended" in signed_out.stdout

    with Session(committed) as session:
        assert all(session_user(session, cookie, now=datetime.now(UTC)) is None for cookie in cookies)
        assert session.execute(text("SELECT count(*) FROM api_tokens WHERE revoked_at IS NULL")).scalar_one() == 1
        actor, sessions = session.execute(
            text("SELECT actor, detail->>'sessions' FROM audit_log WHERE action = 'user.signed_out_everywhere'")
        ).one()
    assert (actor, sessions) == ("admin:cli-test", "2")
    assert token.startswith("bw_")

    again = workup("user", "sign-out-everywhere", "kim")
    assert again.returncode == 0 and "kim: 0 sessions ended" in again.stdout


def test_sign_out_everywhere_names_an_unknown_user(workup):
    missing = workup("user", "sign-out-everywhere", "nobody-here")
    assert missing.returncode == 3
    assert missing.stderr.strip().splitlines() == ["error: user 'nobody-here' does not exist"]
