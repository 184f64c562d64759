"""The worklist filters in a real browser: each select narrows the list through htmx, and the URL keeps it."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.browser.conftest import Demo, login

WAIT = 10_000  # ms for every expect


def test_each_filter_narrows_the_worklist_and_the_url_keeps_it(page: Page, demo: Demo):
    login(page, "nav", "navigator-demo")
    rows = page.get_by_test_id("worklist").locator("tr[data-case]")
    expect(rows.first).to_be_visible(timeout=WAIT)
    everything = rows.count()

    # How late: only steps 8-30 days overdue
    page.locator("select[name=late]").select_option("overdue_8_30")
    expect(page).to_have_url(re.compile(r"late=overdue_8_30"), timeout=WAIT)
    expect(rows.first).to_be_visible(timeout=WAIT)
    status_cells = page.get_by_test_id("worklist").locator("tr[data-case] td:first-child .badge")
    badges = [text.strip() for text in status_cells.all_inner_texts()]
    assert all(re.fullmatch(r"OVERDUE (8|9|[12]\d|30) days", badge) for badge in badges), badges
    assert rows.count() < everything

    # Step: magnification views only, on top of the lateness filter
    page.locator("select[name=late]").select_option("")
    page.locator("select[name=step]").select_option("magnification_views")
    expect(page).to_have_url(re.compile(r"step=magnification_views"), timeout=WAIT)
    expect(page.get_by_test_id("worklist")).not_to_contain_text("ultrasound", timeout=WAIT)
    expect(rows.first).to_contain_text("Spot-magnification", timeout=WAIT)

    # Facility: a prior-film facility, chosen by name (the form sends its id)
    page.locator("select[name=step]").select_option("")
    facility = page.locator("select[name=facility] option").nth(1)
    name = facility.inner_text()
    page.locator("select[name=facility]").select_option(label=name)
    expect(page).to_have_url(re.compile(r"facility=\d+"), timeout=WAIT)
    expect(page.locator("select[name=facility]")).to_have_value(facility.get_attribute("value"))
    expect(page.get_by_test_id("worklist").locator("[role=alert]")).to_have_count(0)
    expect(rows.first).to_be_visible(timeout=WAIT)

    # Back to everything: every filter empty, as the form sends it
    page.locator("select[name=facility]").select_option("")
    expect(rows).to_have_count(everything, timeout=WAIT)
