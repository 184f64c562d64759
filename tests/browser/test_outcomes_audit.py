"""The outcomes audit in a real browser: a radiologist reaches it from the top bar, a reversed period is
named in the error summary (which takes the focus and links to the field), a good period shows her
figures beside the benchmarks with words, the charts and the cases awaiting pathology, which open the
case; the CSV and PDF download."""

from __future__ import annotations

import re
import subprocess
from datetime import UTC, datetime

from playwright.sync_api import Page, expect
from sqlalchemy import Engine
from sqlmodel import Session

from tests.browser.conftest import Demo, login
from tests.browser.test_accessibility import PHONE, axe_violations, horizontal_overflow
from tests.browser.test_screening_recall import console_errors
from tests.outcomes_support import Story

WAIT = 10_000  # ms for every expect


def at(month: int, day: int) -> datetime:
    return datetime(2026, month, day, 15, 0, tzinfo=UTC)


def test_a_radiologist_reviews_her_outcomes_audit(page: Page, demo: Demo, engine: Engine, artifacts, tmp_path):
    # Given the demo (read by the loader: "not recorded") and three cases the demo radiologist read in
    # February 2026: a cancer, a benign biopsy, and a recommendation still waiting for its biopsy
    with Session(engine, expire_on_commit=False) as session:
        Story.open(session, "BROWSER-OUTCOMES-1", at(2, 2)).read("5", "rad", at(2, 2)).biopsy("rad", at(2, 4)) \
            .pathology("malignant", "invasive_carcinoma", "rad", at(2, 9))  # fmt: skip
        Story.open(session, "BROWSER-OUTCOMES-2", at(2, 3)).read("4A", "rad", at(2, 3)).biopsy("rad", at(2, 5)) \
            .pathology("benign", "fibrocystic_change", "rad", at(2, 12))  # fmt: skip
        waiting = Story.open(session, "BROWSER-OUTCOMES-3", at(2, 20)).read("4B", "rad", at(2, 20)).case_id
        session.commit()
    errors = console_errors(page)

    # When the radiologist opens the audit from the top bar
    login(page, "rad", "radiologist-demo")
    page.get_by_role("link", name="Outcomes audit").click()
    page.wait_for_url("**/reports/outcomes")
    expect(page.locator("nav [aria-current=page]")).to_have_text("Outcomes audit")

    # And asks for a period that ends before it starts
    page.get_by_label("Start date").fill("2026-03-01")
    page.get_by_label("End date").fill("2026-02-01")
    page.get_by_role("button", name="Show the audit").click()

    # Then the error summary names the end date, has the focus, and its link moves to the field
    summary = page.get_by_test_id("problems")
    expect(summary).to_contain_text("End date 2026-02-01 is before Start date 2026-03-01", timeout=WAIT)
    expect(summary).to_be_focused()
    assert axe_violations(page) == []  # the error state too (the page list checks the skip link, which
    # the focused summary comes before)
    expect(page.get_by_test_id("outcomes-figures")).to_have_count(0)
    summary.get_by_role("link").click()
    expect(page.get_by_label("End date")).to_be_focused()
    expect(page.get_by_label("End date")).to_have_attribute("aria-invalid", "true")

    # When she asks for February 2026
    page.get_by_label("Start date").fill("2026-02-01")
    page.get_by_label("End date").fill("2026-02-28")
    page.get_by_role("button", name="Show the audit").click()
    expect(page).to_have_url(re.compile(r"from=2026-02-01&to=2026-02-28"), timeout=WAIT)

    # Then her row shows 3 recommendations, 2 biopsies and 1 cancer, each rate with its verdict in words
    row = page.get_by_test_id("figures-rad")
    expect(row).to_contain_text("Rafael Radiologist", timeout=WAIT)
    expect(page.get_by_test_id("ppv2-rad")).to_contain_text("33.3% (1 of 3)")
    expect(page.get_by_test_id("ppv2-rad")).to_contain_text("in range")
    expect(page.get_by_test_id("ppv2-rad")).to_contain_text("includes 1 case awaiting pathology")
    expect(page.get_by_test_id("ppv3-rad")).to_contain_text("50.0% (1 of 2)")
    expect(page.get_by_test_id("ppv3-rad")).to_contain_text("above range")
    expect(page.locator("svg.chart")).to_have_count(3)
    page.screenshot(path=str(artifacts / "outcomes-audit.png"), full_page=True)
    page.set_viewport_size(PHONE)
    assert horizontal_overflow(page) <= 0
    page.screenshot(path=str(artifacts / "outcomes-audit-phone.png"), full_page=True)

    # And the CSV and PDF download for the same period
    with page.expect_download() as csv_download:
        page.get_by_test_id("downloads").get_by_role("link", name="CSV").click()
    csv_download.value.save_as(tmp_path / "audit.csv")
    csv_text = (tmp_path / "audit.csv").read_text()
    assert "Rafael Radiologist" in csv_text and "period_from" in csv_text
    with page.expect_download() as pdf_download:
        page.get_by_test_id("downloads").get_by_role("link", name="PDF").click()
    pdf_download.value.save_as(tmp_path / "audit.pdf")
    words = subprocess.run(["pdftotext", "-raw", str(tmp_path / "audit.pdf"), "-"], capture_output=True, text=True,
                           check=True).stdout  # fmt: skip
    assert "Rafael Radiologist" in words and f"Case {waiting}" in words

    # And the case still waiting for its biopsy is listed and opens from the list
    awaiting = page.get_by_test_id(f"awaiting-{waiting}")
    expect(awaiting).to_contain_text("biopsy owed")
    awaiting.get_by_role("link", name=f"Case {waiting}").click()
    page.wait_for_url(f"**/cases/{waiting}")
    expect(page.get_by_text("BROWSER-OUTCOMES-3").first).to_be_visible(timeout=WAIT)
    refused = "status of 422 (Unprocessable Entity) (http"  # the reversed period, answered 422 on purpose
    assert [error for error in errors if refused not in error or "from=2026-03-01&to=2026-02-01" not in error] == []
