"""A navigator's morning in Chromium: the most urgent case on top, filters, finding a patient by MRN.

Given/when/then in the comments. The demo's cases are loaded through the real services and swept;
the server runs on the wall clock, so "most urgent" is worked out here from the database by the
worklist's rule (overdue BI-RADS 4A-5 first, then the most overdue, then the next due).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page, expect
from sqlalchemy import Engine, text

from tests.browser.conftest import Demo, login

WAIT = 10_000  # ms for every expect
SUSPICIOUS = {"4A", "4B", "4C", "5"}


def most_urgent_case(engine: Engine) -> int:
    """The case the worklist's ordering rule puts first, from the database."""
    now = datetime.now(UTC)
    with engine.connect() as connection:
        found = connection.execute(text(
            "SELECT c.id, c.birads, min(s.due_at) AS earliest FROM cases c JOIN steps s ON s.case_id = c.id "
            "AND s.status IN ('pending', 'scheduled') WHERE c.status IN ('open', 'lost_to_follow_up') "
            "GROUP BY c.id, c.birads")).all()  # fmt: skip
    overdue = [row for row in found if row.earliest < now]
    assert overdue, "the demo has overdue cases"
    return min(overdue, key=lambda row: (row.birads not in SUSPICIOUS, row.earliest, row.id)).id


def shown_cases(page: Page) -> list[str]:
    return (
        page.get_by_test_id("worklist")
        .locator("tr[data-case]")
        .evaluate_all("rows => rows.map(row => row.dataset.case)")
    )


def mrn_of(engine: Engine, case_id: int) -> str:
    with engine.connect() as connection:
        return connection.execute(text("SELECT p.mrn FROM cases c JOIN patients p ON p.id = c.patient_id "
                                       "WHERE c.id = :id"), {"id": case_id}).scalar_one()  # fmt: skip


def test_morning_triage(page: Page, demo: Demo, engine: Engine, artifacts):
    # GIVEN demo-like data: open cases at every stage, the overdue sweep has raised its alerts
    urgent = most_urgent_case(engine)

    # WHEN the navigator signs in and opens the worklist
    login(page, "nav", "navigator-demo")
    rows = page.get_by_test_id("worklist").locator("tr[data-case]")

    # THEN the most urgent case is on top, its lateness in words, and the count says what is shown
    expect(rows.first).to_have_attribute("data-case", str(urgent), timeout=WAIT)
    expect(rows.first.locator("td").first).to_contain_text(re.compile(r"OVERDUE \d+ days?"))
    expect(page.get_by_test_id("worklist-count")).to_have_text(re.compile(r"^\d+ cases need action$"))
    before = shown_cases(page)
    page.screenshot(path=str(artifacts / "worklist-triage.png"), full_page=True)

    # WHEN she picks "Suspicious or highly suggestive (4A-5)" under BI-RADS
    page.locator("select[name=birads]").select_option("4-5")

    # THEN the URL keeps the filter and the rows change to those cases only
    expect(page).to_have_url(re.compile(r"[?&]birads=4-5(&|$)"), timeout=WAIT)
    expect(page.get_by_test_id("worklist-count")).not_to_have_text(f"{len(before)} cases need action", timeout=WAIT)
    after = shown_cases(page)
    assert after and after != before and set(after) < set(before)
    categories = page.get_by_test_id("worklist").locator("td[data-testid=birads]").all_inner_texts()
    assert set(categories) <= SUSPICIOUS, categories

    # WHEN she clears the filters and types a patient's MRN into the search, then presses Enter
    page.get_by_role("link", name="Clear filters").click()
    expect(rows).to_have_count(len(before), timeout=WAIT)
    seed = demo.case_ids["seed"]
    page.get_by_label("Find a patient").fill(mrn_of(engine, seed))
    page.get_by_label("Find a patient").press("Enter")

    # THEN only that patient shows, and she opens the case from her name
    expect(page).to_have_url(re.compile(r"q=DEMO-SEED"), timeout=WAIT)
    expect(rows).to_have_count(1, timeout=WAIT)
    expect(rows.first).to_have_attribute("data-case", str(seed))
    rows.first.get_by_role("link", name="Okafor-Lind, Maren").click()
    page.wait_for_url(f"**/cases/{seed}")
    expect(page.locator("main")).to_contain_text("DEMO-SEED", timeout=WAIT)


def test_finding_a_patient_by_mrn(page: Page, demo: Demo, engine: Engine):
    # GIVEN a patient whose case needs nothing within 30 days is not on the default list
    stable = demo.case_ids["birads3_stable"]
    mrn = mrn_of(engine, stable)
    login(page, "nav", "navigator-demo")
    expect(page.get_by_test_id("worklist").locator(f"tr[data-case='{stable}']")).to_have_count(0)

    # WHEN the navigator shows all cases and searches for the start of her MRN with the Apply button
    page.locator("select[name=view]").select_option("all")
    page.get_by_label("Find a patient").fill("demo-birads3")
    page.get_by_role("button", name="Apply filters").click()

    # THEN her case is listed with the other BI-RADS 3 demo case, and no patient whose MRN starts otherwise
    expect(page).to_have_url(re.compile(r"q=demo-birads3"), timeout=WAIT)
    rows = page.get_by_test_id("worklist").locator("tr[data-case]")
    expect(rows).to_have_count(2, timeout=WAIT)
    expect(rows.filter(has_text=mrn)).to_have_count(1)
    mrns = rows.locator("td[data-label=MRN]").all_inner_texts()
    assert sorted(mrns) == ["DEMO-BIRADS3_MISSED", "DEMO-BIRADS3_STABLE"], mrns

    # WHEN she searches the whole MRN THEN only her case shows, and she opens it
    page.get_by_label("Find a patient").fill(mrn)
    page.get_by_role("button", name="Apply filters").click()
    expect(page).to_have_url(re.compile(rf"q={mrn}"), timeout=WAIT)
    expect(rows).to_have_count(1, timeout=WAIT)
    rows.first.locator("a").first.click()
    page.wait_for_url(f"**/cases/{stable}")


def test_worklist_and_team_pass_axe_and_fit_a_phone(browser, server: str, demo: Demo, artifacts):
    # GIVEN a navigator on a 390 px wide phone
    context = browser.new_context(base_url=server, viewport={"width": 390, "height": 844})
    try:
        page = context.new_page()
        login(page, "nav", "navigator-demo")
        for path in ("/worklist", "/worklist?view=all&birads=4-5", "/team"):
            # WHEN she opens the page
            page.goto(path)
            page.locator("h1").wait_for()
            # THEN axe finds nothing and the page does not scroll sideways
            results = Axe().run(page)
            assert results.violations_count == 0, (path, results.generate_report())
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= 390, (path, width)
        page.goto("/worklist")
        page.screenshot(path=str(artifacts / "worklist-390.png"), full_page=True)
        # and the team page's numbers lead to the cases they count
        page.goto("/team")
        link = page.get_by_test_id("team").locator("tr[data-navigator=nav] td[data-testid=open_cases] a")
        count = int(link.inner_text())
        link.click()
        expect(page).to_have_url(re.compile(r"view=all.*navigator=nav.*status=open"), timeout=WAIT)
        expect(page.get_by_test_id("worklist").locator("tr[data-case]")).to_have_count(count, timeout=WAIT)
    finally:
        context.close()
