"""A follow-up's target date and window on the case page, in a real browser."""

from __future__ import annotations

from playwright.sync_api import Page, expect
from sqlalchemy import Engine
from sqlmodel import Session

from tests.browser.conftest import Demo, login
from tests.factories import FOLLOWUP_WINDOW, open_probably_benign_case

WAIT = 10_000  # ms for every expect


def test_case_page_shows_the_follow_ups_target_and_window(page: Page, demo: Demo, engine: Engine, artifacts):
    # Given a BI-RADS 3 case whose 6-month follow-up was created by the magnification read
    with Session(engine) as session:
        case_id = open_probably_benign_case(session, mrn="BROWSER-WINDOW-1")
        session.commit()

    # When the navigator opens the case
    login(page, "nav", "navigator-demo")
    page.goto(f"/cases/{case_id}")

    # Then the follow-up shows its target date and window in words; a step without a window shows a due date
    steps = page.get_by_test_id("steps")
    followup = steps.locator("tr[data-kind=followup_6_month]")
    expect(followup.get_by_test_id("due")).to_have_text(FOLLOWUP_WINDOW, timeout=WAIT)
    expect(steps.locator("tr[data-kind=ultrasound]").get_by_test_id("due")).to_have_text("2026-03-16")
    expect(steps.locator("tr[data-kind=result_letter]").get_by_test_id("due")).to_have_text("2026-04-04")
    expect(page.get_by_test_id("next-steps")).to_contain_text(FOLLOWUP_WINDOW)
    page.screenshot(path=str(artifacts / "followup-window.png"), full_page=True)
