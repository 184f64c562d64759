"""Browser tests: the demo data in the test database, a real uvicorn server, and headless Chromium.

Chromium is Debian's (/usr/bin/chromium), driven by Playwright's sync API; `playwright install` is
never used. Without that binary the tests fail (CI installs it in .ci/run), they are never skipped.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, text
from sqlmodel import Session

from tracking.alerts.sweep import sweep_overdue
from tracking.demo import load_demo, load_demo_users
from tracking.settings import REPO_ROOT

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = REPO_ROOT / "tests" / "artifacts"
SERVER_START_SECONDS = 20
# Every table the demo, the pages and the sweep write to; emptied after each browser test.
ALL_TABLES = (
    "users, user_sessions, api_tokens, login_failures, case_runs, notifications, alerts, prior_film_requests, "
    "steps, case_events, audit_log, case_notes, navigator_tasks, cases, patients, outside_facilities, hl7_inbox_items"
)


@dataclass(frozen=True)
class Demo:
    """What the demo loaded: case ids by demo key ("seed", "priors", "new", ...) in load order."""

    case_ids: dict[str, int]
    loaded_at: datetime


def _truncate_all(engine: Engine) -> None:
    with engine.begin() as connection:
        connection.execute(text("SET LOCAL session_replication_role = replica"))  # past the history's TRUNCATE guard
        connection.execute(text(f"TRUNCATE {ALL_TABLES} RESTART IDENTITY CASCADE"))


@pytest.fixture
def demo(engine: Engine) -> Iterator[Demo]:
    """The demo users and cases, committed, with the overdue sweep run so alerts exist; emptied afterwards."""
    from tracking.demo import DEMO_CASES

    _truncate_all(engine)  # whatever another test committed must not leak into the worklist
    now = datetime.now(UTC)
    with Session(engine, expire_on_commit=False) as session:
        load_demo_users(session, now)
        case_ids = load_demo(session, now)
        sweep_overdue(session, now)
        session.commit()
    try:
        yield Demo(case_ids={item.key: case_id for item, case_id in zip(DEMO_CASES, case_ids, strict=True)},
                   loaded_at=now)  # fmt: skip
    finally:
        _truncate_all(engine)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session")
def server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`uvicorn tracking.web.app:create_app` on a free port against the test database; yields its base URL."""
    port = _free_port()
    log_path = tmp_path_factory.mktemp("server") / "uvicorn.log"
    env = os.environ | {"DATABASE_URL": database_url, "WORKUP_SCHEDULER_ENABLED": "false"}
    command = [sys.executable, "-m", "uvicorn", "tracking.web.app:create_app", "--factory",
               "--host", "127.0.0.1", "--port", str(port)]  # fmt: skip
    base_url = f"http://127.0.0.1:{port}"
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait_healthy(process, base_url, log_path)
        yield base_url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def _wait_healthy(process: subprocess.Popen, base_url: str, log_path: Path) -> None:
    deadline = time.monotonic() + SERVER_START_SECONDS
    last = "no answer"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"uvicorn exited with code {process.returncode} before answering /healthz:\n"
                        f"{log_path.read_text(errors='replace')[-4000:]}")  # fmt: skip
        try:
            answer = httpx.get(f"{base_url}/healthz", timeout=2)
            if answer.status_code == 200:
                return
            last = f"HTTP {answer.status_code}: {answer.text[:200]}"
        except httpx.HTTPError as error:
            last = repr(error)
        time.sleep(0.2)
    pytest.fail(f"uvicorn did not answer 200 on /healthz within {SERVER_START_SECONDS} s (last: {last}):\n"
                f"{log_path.read_text(errors='replace')[-4000:]}")  # fmt: skip


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: the browser tests need Debian's chromium "
            "(apt-get install chromium; .ci/run installs it). They are never skipped."
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


def is_csp_violation(text: str) -> bool:
    return "Content Security Policy" in text or "Content-Security-Policy" in text


@pytest.fixture
def page(browser, server: str):
    """A fresh browser context (no cookies) per test, with the server as base URL.

    A Content-Security-Policy violation reported on the console fails the test that caused it.
    """
    context = browser.new_context(base_url=server, viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(10_000)
    violations: list[str] = []
    try:
        opened = context.new_page()
        opened.on("console", lambda message: violations.append(f"{opened.url}: {message.text}")
                  if is_csp_violation(message.text) else None)  # fmt: skip
        yield opened
    finally:
        context.close()
    assert not violations, "Content-Security-Policy violations:\n" + "\n".join(violations)


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


def login(page, username: str, password: str) -> None:
    """Sign in through the login form and land on the worklist."""
    from playwright.sync_api import expect

    page.goto("/login")
    page.locator("input[name=username]").fill(username)
    page.locator("input[name=password]").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/worklist")
    expect(page.get_by_test_id("worklist")).to_be_visible()
