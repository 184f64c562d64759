"""The worklist filters in a real browser: each select narrows the list through htmx, and the URL keeps it.

One row per case: a filtered row is checked against the database (the case has what the filter asks for).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from playwright.sync_api import Page, expect
from sqlalchemy import Engine, text
from sqlmodel import Session

from tests.browser.conftest import Demo, login
from tracking.navigation.tasks import add_task

WAIT = 10_000  # ms for every expect


def shown_cases(page: Page) -> list[int]:
    return [int(case_id) for case_id in page.get_by_test_id("worklist").locator("tr[data-case]").evaluate_all(
        "rows => rows.map(row => row.dataset.case)")]  # fmt: skip


def cases_with_open_step(engine: Engine, kind: str) -> set[int]:
    with engine.connect() as connection:
        return set(connection.execute(text("SELECT case_id FROM steps WHERE kind = :kind AND status IN "
                                           "('pending', 'scheduled')"), {"kind": kind}).scalars())  # fmt: skip


def test_each_filter_narrows_the_worklist_and_the_url_keeps_it(page: Page, demo: Demo, engine: Engine):
    login(page, "nav", "navigator-demo")
    rows = page.get_by_test_id("worklist").locator("tr[data-case]")
    expect(rows.first).to_be_visible(timeout=WAIT)
    everything = rows.count()

    # How late: only cases whose worst step is 8-30 days overdue
    page.locator("select[name=late]").select_option("overdue_8_30")
    expect(page).to_have_url(re.compile(r"late=overdue_8_30"), timeout=WAIT)
    expect(rows.first).to_be_visible(timeout=WAIT)
    status_cells = page.get_by_test_id("worklist").locator("tr[data-case] td:first-child .badge")
    badges = [text.strip() for text in status_cells.all_inner_texts()]
    assert badges and all(re.fullmatch(r"OVERDUE (8|9|[12]\d|30) days", badge) for badge in badges), badges
    assert rows.count() < everything

    # Step: cases with open magnification views only
    page.locator("select[name=late]").select_option("")
    page.locator("select[name=step]").select_option("magnification_views")
    expect(page).to_have_url(re.compile(r"step=magnification_views"), timeout=WAIT)
    expect(page.get_by_test_id("worklist-count")).to_have_text(re.compile(r"^\d+ cases? needs? action$"))
    expect(rows).not_to_have_count(everything, timeout=WAIT)
    shown = shown_cases(page)
    assert shown and set(shown) <= cases_with_open_step(engine, "magnification_views")

    # Facility: a prior-film facility, chosen by name (the form sends its id)
    page.locator("select[name=step]").select_option("")
    facility = page.locator("select[name=facility] option").nth(1)
    name = facility.inner_text()
    page.locator("select[name=facility]").select_option(label=name)
    expect(page).to_have_url(re.compile(r"facility=\d+"), timeout=WAIT)
    expect(page.locator("select[name=facility]")).to_have_value(facility.get_attribute("value"))
    expect(page.get_by_test_id("filter-message")).to_have_count(0)
    expect(rows.first).to_be_visible(timeout=WAIT)

    # Back to everything: every filter empty, as the form sends it
    page.locator("select[name=facility]").select_option("")
    expect(rows).to_have_count(everything, timeout=WAIT)


def test_without_javascript_the_apply_button_filters(browser, server: str, demo: Demo):
    context = browser.new_context(base_url=server, java_script_enabled=False)
    try:
        page = context.new_page()
        login(page, "nav", "navigator-demo")
        page.locator("select[name=birads]").select_option("4-5")
        page.get_by_role("button", name="Apply filters").click()
        expect(page).to_have_url(re.compile(r"birads=4-5"), timeout=WAIT)
        categories = page.get_by_test_id("worklist").locator("td[data-testid=birads]").all_inner_texts()
        assert categories and set(categories) <= {"4A", "4B", "4C", "5"}, categories
    finally:
        context.close()


def test_a_task_due_today_is_a_next_action(page: Page, demo: Demo, engine: Engine):
    # Given the "new" demo case (nothing overdue) has a task due now
    case_id = demo.case_ids["new"]
    now = datetime.now(UTC)
    with Session(engine) as session:
        add_task(session, case_id, "Call about the magnification appointment", now, actor="nav", now=now)
        session.commit()
    # When the navigator lists cases with a task due today
    login(page, "nav", "navigator-demo")
    page.locator("select[name=task]").select_option("due")
    # Then that case is the one shown, its next action the task
    expect(page).to_have_url(re.compile(r"task=due"), timeout=WAIT)
    row = page.get_by_test_id("worklist").locator("tr[data-case]")
    expect(row).to_have_count(1, timeout=WAIT)
    expect(row).to_have_attribute("data-case", str(case_id))
    expect(row.get_by_test_id("next")).to_contain_text("TASK Call about the magnification appointment")
