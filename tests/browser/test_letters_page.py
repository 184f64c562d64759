"""The letters page in a real browser, by keyboard: a navigator produces the lay summary owed, prints
the letters waiting as one PDF (downloaded and read back), and marks the lay summary sent, which
completes the case's result-letter step. The page passes axe-core with both lists filled and fits
a 390 px phone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from playwright.sync_api import Page, expect
from sqlalchemy import Engine, text
from sqlmodel import Session

from tests.browser.conftest import Demo, login
from tests.browser.test_accessibility import PHONE, axe_violations, horizontal_overflow
from tests.letters_support import DENSE, open_letter_case, pdf_text
from tracking.letters.service import produce_letter

WAIT = 10_000  # ms for every expect


def test_produce_print_and_mark_sent_by_keyboard(page: Page, demo: Demo, engine: Engine, artifacts, tmp_path):
    # Given a dense-tissue case whose BI-RADS 4B lay summary fell due two days ago, and a report to
    # its referring provider already produced
    exam = datetime.now(UTC) - timedelta(days=10)
    with Session(engine) as session:
        case_id = open_letter_case(session, mrn="BRW-LTR-1", given_name="Rosalind", family_name="Okafor",
                                   density="c", birads_read="4B", facility=False, missed=False,
                                   exam_at=exam).case_id  # fmt: skip
        report, _ = produce_letter(session, case_id, "referrer_report", actor="nav", now=datetime.now(UTC))
        session.commit()
        report_id = report.id

    # When the navigator opens the letters page
    login(page, "nav", "navigator-demo")
    page.goto("/letters")
    owed = page.get_by_test_id("owed").locator(f"tr[data-case='{case_id}']")
    expect(owed).to_contain_text("OVERDUE 2 days", timeout=WAIT)

    # And produces the lay summary with the keyboard (the patient's language, the usual channel)
    owed.get_by_role("button", name=f"Produce the lay summary for case {case_id}").focus()
    page.keyboard.press("Enter")

    # Then a banner says so and takes the focus
    banner = page.get_by_test_id("saved")
    expect(banner).to_contain_text("(lay summary, English, print and post) produced for case", timeout=WAIT)
    expect(banner).to_be_focused()
    with engine.connect() as connection:
        letter_id = connection.execute(
            text("SELECT id FROM letters WHERE case_id = :c AND kind = 'result'"), {"c": case_id}
        ).scalar_one()
    expect(owed).to_contain_text(f"Letter {letter_id} is produced, not sent")
    assert axe_violations(page) == []
    page.screenshot(path=str(artifacts / "letters-page.png"), full_page=True)

    # When they tick both letters with the space bar and print them as one PDF
    for ticked in (letter_id, report_id):
        page.locator(f"#letter-{ticked}").focus()
        page.keyboard.press("Space")
        expect(page.locator(f"#letter-{ticked}")).to_be_checked()
    page.get_by_test_id("print-chosen").focus()
    with page.expect_download() as download:
        page.keyboard.press("Enter")
    saved = tmp_path / "batch.pdf"
    download.value.save_as(saved)

    # Then one PDF holds both letters, and nothing new was recorded
    words = pdf_text(saved.read_bytes(), tmp_path, "read.pdf")
    assert "Your mammogram results" in words and DENSE in words and "Diagnostic breast imaging report" in words
    assert "Rosalind Okafor" in words
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM letters WHERE case_id = :c"), {"c": case_id}).scalar() == 2

    # When they mark only the lay summary sent by keyboard
    page.goto("/letters")
    page.locator(f"#letter-{letter_id}").focus()
    page.keyboard.press("Space")
    page.get_by_test_id("mark-sent").focus()
    page.keyboard.press("Enter")

    # Then the banner says the result-letter step is complete, with the dense-tissue statement
    banner = page.get_by_test_id("saved")
    expect(banner).to_contain_text("marked sent with the dense-tissue statement", timeout=WAIT)
    expect(banner).to_contain_text("the result-letter step is complete")
    expect(banner).to_be_focused()
    expect(page.locator(f"#letter-{letter_id}")).to_have_count(0)
    expect(page.locator(f"#letter-{report_id}")).to_have_count(1)
    with engine.connect() as connection:
        step = connection.execute(
            text("SELECT status FROM steps WHERE case_id = :c AND kind = 'result_letter'"), {"c": case_id}
        ).scalar_one()
    assert step == "completed"

    # And the case page lists both letters and the timeline says what happened
    page.goto(f"/cases/{case_id}")
    letters = page.get_by_test_id("case-letters")
    expect(letters.locator(f"tr[data-letter='{letter_id}']")).to_have_attribute("data-status", "sent")
    expect(page.get_by_test_id("timeline")).to_contain_text(
        "Letter sent: lay summary (to the patient, by print and post)"
    )
    page.screenshot(path=str(artifacts / "case-letters.png"), full_page=True)

    # And the letters page fits a phone
    page.set_viewport_size(PHONE)
    page.goto("/letters")
    assert horizontal_overflow(page) <= 0
    page.screenshot(path=str(artifacts / "letters-page-phone.png"), full_page=True)
