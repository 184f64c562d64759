"""Outside work that never happened, in a real browser: the worklist says so, the case page names it,
and a navigator acknowledges it with a reason."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from playwright.sync_api import Page, expect
from sqlalchemy import Engine, text
from sqlmodel import Session

from tests.browser.conftest import Demo, login
from tracking.alerts.sweep import sweep_overdue

WAIT = 10_000  # ms for every expect


def dead_letter_the_film_request(engine: Engine, case_id: int) -> str:
    """The first film request of `case_id` is refused until dead-lettered; the sweep alerts. Returns the facility."""
    with engine.begin() as connection:
        facility = connection.execute(
            text(
                "UPDATE notifications n SET status = 'dead', attempts = 8, failures = 8, "
                "last_error = 'SMTP: recipient refused (550)' FROM outside_facilities f "
                "WHERE f.id = n.facility_id AND n.id = (SELECT min(id) FROM notifications WHERE case_id = :id "
                "AND kind = 'prior_film_request') RETURNING f.name"
            ),
            {"id": case_id},
        ).scalar_one()
    with Session(engine) as session:
        sweep_overdue(session, datetime.now(UTC) + timedelta(minutes=1))
        session.commit()
    return facility


def test_a_film_request_that_never_left_is_on_the_worklist_and_acknowledged_on_the_case(
    page: Page, demo: Demo, engine: Engine, artifacts
):
    # Given the seed case's film request to an outside facility was dead-lettered and swept
    seed = demo.case_ids["seed"]
    facility = dead_letter_the_film_request(engine, seed)
    headline = f"{facility} never received the prior film request"

    # When the navigator opens the worklist
    login(page, "nav", "navigator-demo")

    # Then a panel above the list names the patient, the case and what never happened
    panel = page.get_by_test_id("stuck-work")
    expect(panel).to_contain_text(headline, timeout=WAIT)
    expect(panel).to_contain_text("NOT DELIVERED")
    page.screenshot(path=str(artifacts / "worklist-stuck-work.png"), full_page=True)

    # When they follow it to the case
    panel.locator(f"a[href='/cases/{seed}']").click()
    page.wait_for_url(f"**/cases/{seed}")

    # Then the case's open alerts name it in the same words
    alerts = page.get_by_test_id("alerts")
    row = alerts.locator("tbody tr").filter(has=page.locator("[data-alert-kind=delivery_failed]"))
    expect(row).to_contain_text(headline, timeout=WAIT)

    # When they acknowledge it with what they did
    reason = "Faxed the request to the records office instead"
    row.locator("input[name=reason]").fill(reason)
    row.get_by_role("button", name="Acknowledge").click()

    # Then the case page and the worklist both say it was acknowledged, and by whom
    page.wait_for_url(f"**/cases/{seed}?saved=ack")
    row = (
        page.get_by_test_id("alerts").locator("tbody tr").filter(has=page.locator("[data-alert-kind=delivery_failed]"))
    )
    expect(row).to_contain_text(f"nav: {reason}", timeout=WAIT)
    page.goto("/worklist")
    expect(page.get_by_test_id("stuck-work")).to_contain_text("acknowledged", timeout=WAIT)
