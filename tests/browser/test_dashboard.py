"""The dashboard in a real browser: worklist, recording an event, a guard refusal, alerts, read-only."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from playwright.sync_api import Page, expect
from sqlalchemy import Engine, text

from tests.browser.conftest import Demo, login

WAIT = 10_000  # ms for every expect


def case_state(engine: Engine, case_id: int) -> tuple[int, int]:
    """(number of case_events rows, case version) straight from the test database."""
    with engine.connect() as connection:
        events = connection.execute(
            text("SELECT count(*) FROM case_events WHERE case_id = :id"), {"id": case_id}
        ).scalar_one()
        version = connection.execute(text("SELECT version FROM cases WHERE id = :id"), {"id": case_id}).scalar_one()
    return events, version


def case_id_for_mrn(engine: Engine, mrn: str) -> int:
    with engine.connect() as connection:
        return connection.execute(
            text("SELECT c.id FROM cases c JOIN patients p ON p.id = c.patient_id WHERE p.mrn = :mrn"), {"mrn": mrn}
        ).scalar_one()


def test_navigator_sees_an_overdue_suspicious_case_first(page: Page, demo: Demo, engine: Engine, artifacts):
    # Given the demo is loaded and the sweep has raised alerts
    # When the navigator signs in
    login(page, "nav", "navigator-demo")

    # Then the first worklist row is an overdue BI-RADS 4A-5 case, marked overdue in words, not colour alone
    first = page.get_by_test_id("worklist").locator("tr[data-case]").first
    expect(first.get_by_test_id("birads")).to_have_text(re.compile(r"^(4A|4B|4C|5)$"), timeout=WAIT)
    badge = first.locator(".badge").first
    expect(badge).to_have_text(re.compile(r"^OVERDUE \d+ days?$"), timeout=WAIT)
    # And the seed case (BI-RADS 0, overdue) is on the list, one row for its several open steps
    seed = page.get_by_test_id("worklist").locator(f"tr[data-case='{demo.case_ids['seed']}']")
    expect(seed).to_have_count(1)
    expect(seed).to_contain_text("Okafor-Lind, Maren")
    page.screenshot(path=str(artifacts / "worklist.png"), full_page=True)


def test_magnification_read_creates_the_stereotactic_biopsy_step(page: Page, demo: Demo, artifacts):
    # Given the navigator is on the seed case, which has no biopsy step yet
    seed = demo.case_ids["seed"]
    login(page, "nav", "navigator-demo")
    page.get_by_test_id("worklist").locator(f"tr[data-case='{seed}'] a").first.click()
    page.wait_for_url(f"**/cases/{seed}")
    steps = page.get_by_test_id("steps")
    expect(steps.locator("tr[data-kind=stereotactic_biopsy]")).to_have_count(0)

    # When they record the magnification read: BI-RADS 4B, fine pleomorphic, grouped
    page.get_by_test_id("event-kind").select_option(label="Magnification views read")
    page.get_by_role("button", name="Show the form").click()
    form = page.get_by_test_id("event-form")
    expect(form).to_be_visible(timeout=WAIT)
    expect(form).to_contain_text("Magnification views read")
    form.locator("select[name=birads]").select_option("4B")
    form.locator("select[name=morphology]").select_option("fine_pleomorphic")
    form.locator("select[name=distribution]").select_option("grouped")
    form.get_by_role("button", name="Record").click()

    # Then (after the HX-Redirect back to the case) a pending stereotactic biopsy step is due and BI-RADS reads 4B
    biopsy = page.get_by_test_id("steps").locator("tr[data-kind=stereotactic_biopsy]")
    expect(biopsy).to_have_count(1, timeout=WAIT)
    expect(biopsy).to_contain_text("Stereotactic vacuum-assisted core needle biopsy")
    expect(biopsy).to_have_attribute("data-status", "pending")
    expect(biopsy.locator("td").nth(2)).to_have_text(re.compile(r"due (today|in \d+ days?)"))
    expect(page.get_by_test_id("birads")).to_have_text("4B")
    expect(page.get_by_test_id("steps").locator("tr[data-kind=magnification_views]")).to_have_attribute(
        "data-status", "completed"
    )
    expect(page.get_by_test_id("event-form")).to_have_count(0)
    page.screenshot(path=str(artifacts / "case.png"), full_page=True)


def test_biopsy_before_magnification_is_refused_and_saves_nothing(page: Page, demo: Demo, engine: Engine):
    # Given a case whose magnification views are not done
    case_id = case_id_for_mrn(engine, "DEMO-NEW")
    assert case_id == demo.case_ids["new"]
    before = case_state(engine, case_id)
    login(page, "nav", "navigator-demo")
    page.goto(f"/cases/{case_id}")
    expect(page.get_by_test_id("steps").locator("tr[data-kind=magnification_views]")).to_have_attribute(
        "data-status", "pending"
    )

    # When the navigator tries to schedule a stereotactic biopsy
    page.get_by_test_id("event-kind").select_option(label="Biopsy scheduled")
    page.get_by_role("button", name="Show the form").click()
    form = page.get_by_test_id("event-form")
    expect(form).to_contain_text("Biopsy scheduled", timeout=WAIT)
    form.locator("select[name=procedure]").select_option("stereotactic")
    when = (datetime.now(UTC) + timedelta(days=5)).replace(hour=9, minute=30, second=0, microsecond=0)
    form.locator("input[name=scheduled_for]").fill(when.strftime("%Y-%m-%dT%H:%M"))
    form.get_by_role("button", name="Record").click()

    # Then the refusal is shown inline, naming guard G1 and the magnification views, and the page stays put
    refusal = page.get_by_test_id("refusal")
    expect(refusal).to_be_visible(timeout=WAIT)
    expect(refusal).to_contain_text("G1")
    expect(refusal).to_contain_text("Magnification views")
    expect(page).to_have_url(re.compile(rf"/cases/{case_id}$"))
    expect(page.get_by_test_id("event-form").locator("select[name=procedure]")).to_have_value("stereotactic")

    # And nothing was written: no new case event, the case version is unchanged
    assert case_state(engine, case_id) == before
    expect(page.get_by_test_id("steps").locator("tr[data-kind=stereotactic_biopsy]")).to_have_count(0)


def test_navigator_acknowledges_an_alert_with_a_reason(page: Page, demo: Demo):
    # Given the seed case has an open overdue alert
    seed = demo.case_ids["seed"]
    login(page, "nav", "navigator-demo")
    page.goto(f"/cases/{seed}")
    alerts = page.get_by_test_id("alerts")
    ack_form = alerts.locator("form[data-testid^='ack-']").first
    expect(ack_form).to_be_visible(timeout=WAIT)
    ack_id = ack_form.get_attribute("data-testid")
    row = alerts.locator("tbody tr").filter(has=page.get_by_test_id(ack_id))
    expect(row).not_to_contain_text("acknowledged")

    # When the navigator acknowledges it with a reason
    reason = "Patient called, booking magnification views this week"
    ack_form.locator("input[name=reason]").fill(reason)
    ack_form.get_by_role("button", name="Acknowledge").click()

    # Then, back on the case page, that alert row reads acknowledged, by whom and why
    page.wait_for_url(f"**/cases/{seed}?saved=ack")
    row = page.get_by_test_id("alerts").locator("tbody tr").filter(has=page.get_by_test_id(ack_id))
    expect(row).to_contain_text("acknowledged", timeout=WAIT)
    expect(row).to_contain_text(f"nav: {reason}")


def test_read_only_user_sees_no_forms(page: Page, demo: Demo):
    # Given a read-only user is signed in
    login(page, "viewer", "read-only-demo")

    # Then the worklist still loads with the demo's due steps
    rows = page.get_by_test_id("worklist").locator("tr[data-case]")
    expect(rows.first).to_be_visible(timeout=WAIT)
    assert rows.count() > 1

    # When they open the seed case, which has open alerts
    seed = demo.case_ids["seed"]
    page.goto(f"/cases/{seed}")
    expect(page.get_by_test_id("steps")).to_be_visible(timeout=WAIT)
    expect(page.get_by_test_id("alerts")).to_be_visible()

    # Then there is nothing to record, acknowledge or assign
    expect(page.locator('form[action*="/events"]')).to_have_count(0)
    expect(page.get_by_test_id("event-kind")).to_have_count(0)
    expect(page.locator('form[action*="/ack"]')).to_have_count(0)
    expect(page.locator('form[action*="/assign"]')).to_have_count(0)
