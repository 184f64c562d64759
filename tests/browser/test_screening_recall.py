"""The screening recall list in a real browser: reached from the top bar, filtered through htmx with the
URL keeping the filter, paged, and no console errors; a stalled case is named on the worklist."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from playwright.sync_api import Page, expect
from sqlalchemy import Engine, text
from sqlmodel import Session

from tests.browser.conftest import Demo, login
from tests.flows.test_screening_after_closure import closed_case
from tests.flows.test_stalled_cases import stalled_case
from tracking.alerts.sweep import sweep_overdue

WAIT = 10_000  # ms for every expect


def console_errors(page: Page) -> list[str]:
    """Errors the page logs or throws. The browser's own favicon probe (the app serves none) is not the page's."""
    errors: list[str] = []

    def logged(message) -> None:
        if message.type == "error" and not message.location.get("url", "").endswith("/favicon.ico"):
            errors.append(f"{message.text} ({message.location.get('url')})")

    page.on("console", logged)
    page.on("pageerror", lambda error: errors.append(str(error)))
    return errors


def test_the_recall_list_filters_by_overdue_and_by_days(page: Page, demo: Demo, engine: Engine, artifacts):
    # Given a case closed over a year ago whose screening is now overdue (and swept), besides the demo's
    # benign case closed 45 days ago, whose screening is due in about ten months
    now = datetime.now(UTC)
    with Session(engine, expire_on_commit=False) as session:
        overdue, _ = closed_case(session, now - timedelta(days=405), mrn="BROWSER-SCREEN-1")
        sweep_overdue(session, now)
        session.commit()
    benign = demo.case_ids["benign_closed"]
    errors = console_errors(page)

    # When the navigator opens the recall list from the top bar
    login(page, "nav", "navigator-demo")
    page.get_by_role("link", name="Screening recall").click()
    page.wait_for_url("**/screening")
    rows = page.get_by_test_id("screening").locator("tr[data-case]")

    # Then both closed cases are listed, the overdue one first, named, with its alert level
    expect(rows).to_have_count(2, timeout=WAIT)
    expect(rows.first).to_have_attribute("data-case", str(overdue))
    expect(rows.first).to_contain_text("BROWSER-SCREEN-1")
    expect(rows.first.locator(".badge").first).to_have_text(re.compile(r"^OVERDUE \d+ days?$"))
    expect(rows.first).to_contain_text("level 2")
    expect(rows.nth(1)).to_have_attribute("data-case", str(benign))
    page.screenshot(path=str(artifacts / "screening-recall.png"), full_page=True)

    # When they show only the overdue
    page.locator("select[name=due]").select_option("overdue")
    expect(page).to_have_url(re.compile(r"due=overdue"), timeout=WAIT)
    expect(rows).to_have_count(1, timeout=WAIT)
    expect(rows.first).to_have_attribute("data-case", str(overdue))

    # When they show what is due within 30 days, then within a year
    page.locator("select[name=due]").select_option("within")
    expect(page).to_have_url(re.compile(r"due=within&days=30"), timeout=WAIT)
    expect(rows).to_have_count(1, timeout=WAIT)
    page.locator("input[name=days]").fill("365")
    page.locator("input[name=days]").dispatch_event("change")
    expect(page).to_have_url(re.compile(r"days=365"), timeout=WAIT)
    expect(rows).to_have_count(2, timeout=WAIT)

    # A reload keeps the filter (the URL holds it)
    page.reload()
    expect(page.locator("select[name=due]")).to_have_value("within")
    expect(rows).to_have_count(2, timeout=WAIT)

    # Following a row opens the case, which says its screening is still tracked
    rows.first.locator("a").click()
    page.wait_for_url(f"**/cases/{overdue}")
    expect(page.get_by_test_id("screening-recall")).to_contain_text("screening recall list", timeout=WAIT)
    assert errors == []


def test_a_stalled_case_is_named_on_the_worklist_and_its_case(page: Page, demo: Demo, engine: Engine):
    # Given a case left with nothing next, swept
    now = datetime.now(UTC)
    with Session(engine) as session:
        case_id = stalled_case(session, now, mrn="BROWSER-STALL-1")
        sweep_overdue(session, now + timedelta(minutes=1))
        session.commit()
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM alerts WHERE kind = 'case_stalled'")).scalar() == 1
    errors = console_errors(page)

    # When the navigator opens the worklist, a panel names it
    login(page, "nav", "navigator-demo")
    panel = page.get_by_test_id("stalled-cases")
    headline = f"Case {case_id} is open with no next step dated and nothing alerting: decide what happens next"
    expect(panel).to_contain_text(headline, timeout=WAIT)
    expect(panel).to_contain_text("NOTHING NEXT")

    # And the case page lists the alert in the same words, to acknowledge
    panel.locator(f"a[href='/cases/{case_id}']").click()
    page.wait_for_url(f"**/cases/{case_id}")
    row = page.get_by_test_id("alerts").locator("tbody tr").filter(has=page.locator("[data-alert-kind=case_stalled]"))
    expect(row).to_contain_text(headline, timeout=WAIT)
    row.locator("input[name=reason]").fill("Radiologist deciding on Monday")
    row.get_by_role("button", name="Acknowledge").click()
    page.wait_for_url(f"**/cases/{case_id}?saved=ack")
    expect(page.get_by_test_id("alerts")).to_contain_text("nav: Radiologist deciding on Monday", timeout=WAIT)
    assert errors == []
