"""A navigator opens a recall case from the form in Chromium, by keyboard alone; a bad phone number is
named in an error summary that takes the focus; the form and the facility directory pass axe-core and
fit a 390 px wide screen."""

from __future__ import annotations

import re

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page, expect
from sqlalchemy import Engine, text

from tests.browser.conftest import Demo, login

WAIT = 10_000  # ms for every expect
MAX_TABS = 80


def active_id(page: Page) -> str:
    return page.evaluate("document.activeElement ? document.activeElement.id : ''")


def tab_to(page: Page, element_id: str) -> None:
    """Press Tab until the element with this id has the focus (date inputs take one Tab per part)."""
    for _ in range(MAX_TABS):
        if active_id(page) == element_id:
            return
        page.keyboard.press("Tab")
    pytest.fail(f"Tab never reached #{element_id} (focus is on #{active_id(page)})")


def type_into(page: Page, element_id: str, typed: str) -> None:
    tab_to(page, element_id)
    page.keyboard.type(typed)


def no_violations(page: Page, what: str) -> None:
    results = Axe().run(page)
    violations = [(item["id"], item["help"], [node["target"] for node in item["nodes"]][:3])
                  for item in results.response["violations"]]  # fmt: skip
    assert results.violations_count == 0, f"axe-core on {what}: {violations}"


def fits(page: Page, width: int = 390) -> None:
    scroll = page.evaluate("document.documentElement.scrollWidth")
    assert scroll <= width, f"{page.url} scrolls sideways at {width} px ({scroll} px wide)"


def cases_with_mrn(engine: Engine, mrn: str) -> list[int]:
    with engine.connect() as connection:
        return list(connection.execute(text("SELECT c.id FROM cases c JOIN patients p ON p.id = c.patient_id "
                                            "WHERE p.mrn = :mrn"), {"mrn": mrn}).scalars())  # fmt: skip


def fill_by_keyboard(page: Page, mrn: str, phone: str) -> None:
    """The recall form, filled with Tab, typing, arrow keys and Space only."""
    page.get_by_role("heading", name="Open a recall case").wait_for()
    type_into(page, "mrn", mrn)
    type_into(page, "given_name", "Keya")
    type_into(page, "family_name", "Boardcase")
    type_into(page, "birth_date", "07301961")  # month, day, year: the date input moves on by itself
    type_into(page, "phone1_number", phone)
    tab_to(page, "preferred_language")
    page.keyboard.type("Span")  # type-ahead picks Spanish
    tab_to(page, "interpreter_needed")
    page.keyboard.press("Space")
    tab_to(page, "laterality")
    page.keyboard.press("ArrowRight")  # Left → Right, checked as it moves
    tab_to(page, "finding_type")
    page.keyboard.type("Calc")
    tab_to(page, "palpable")
    page.keyboard.press("Space")
    tab_to(page, "density")
    page.keyboard.type("c")
    tab_to(page, "birads")
    page.keyboard.type("0")
    tab_to(page, "facility-1")
    page.keyboard.press("Space")


def submit_by_keyboard(page: Page) -> None:
    for _ in range(MAX_TABS):
        if page.evaluate("document.activeElement.type === 'submit' && !!document.activeElement.closest('form.recall')"):
            page.keyboard.press("Enter")
            return
        page.keyboard.press("Tab")
    pytest.fail("Tab never reached the form's submit button")


def test_a_navigator_opens_a_recall_case_by_keyboard(page: Page, demo: Demo, engine: Engine, artifacts):
    # Given a navigator signed in
    login(page, "nav", "navigator-demo")

    # When she follows "New case" and fills the recall form with the keyboard alone, with a bad phone number
    page.get_by_role("link", name="New case").focus()
    page.keyboard.press("Enter")
    page.wait_for_url("**/cases/new")
    expect(page.get_by_role("link", name="New case")).to_have_attribute("aria-current", "page")
    fill_by_keyboard(page, "KEY-BOARD-1", "12")
    submit_by_keyboard(page)

    # Then the error summary has the focus and links to the phone field; nothing was saved
    summary = page.get_by_test_id("problems")
    expect(summary).to_be_focused(timeout=WAIT)
    link = summary.get_by_role("link")
    expect(link).to_have_count(1)
    expect(link).to_have_attribute("href", "#phone1_number")
    expect(page.locator("#phone1_number-error")).to_contain_text("not a valid phone number")
    expect(page.locator("#given_name")).to_have_value("Keya")  # what she typed is kept
    expect(page.locator("#laterality-right")).to_be_checked()
    assert cases_with_mrn(engine, "KEY-BOARD-1") == []
    no_violations(page, "/cases/new with an error")
    page.screenshot(path=str(artifacts / "new-case-refused.png"), full_page=True)

    # When she follows the link by keyboard, corrects the number and sends the form again
    page.keyboard.press("Tab")
    expect(link).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("#phone1_number")).to_be_focused(timeout=WAIT)
    page.keyboard.press("Control+A")
    page.keyboard.type("+1 617 555 0134")
    submit_by_keyboard(page)

    # Then she lands on the new case, opened once, with her details
    page.wait_for_url(re.compile(r"/cases/\d+\?saved=opened$"), timeout=WAIT)
    opened = cases_with_mrn(engine, "KEY-BOARD-1")
    assert len(opened) == 1 and page.url.endswith(f"/cases/{opened[0]}?saved=opened")
    expect(page.get_by_text("KEY-BOARD-1")).to_be_visible()
    with engine.connect() as connection:
        phones, language, interpreter = connection.execute(
            text("SELECT phones, preferred_language, interpreter_needed FROM patients WHERE mrn = 'KEY-BOARD-1'")
        ).one()
        case = connection.execute(text("SELECT laterality, finding_type, density, birads, palpable FROM cases "
                                       "WHERE id = :id"), {"id": opened[0]}).one()  # fmt: skip
        requests = connection.execute(text("SELECT count(*) FROM prior_film_requests WHERE case_id = :id"),
                                      {"id": opened[0]}).scalar_one()  # fmt: skip
    assert phones == [{"label": "mobile", "number": "+16175550134"}] and (language, interpreter) == ("es", True)
    assert tuple(case) == ("right", "calcifications", "c", "0", True) and requests == 1


def test_the_new_case_page_says_it_was_opened(page: Page, demo: Demo):
    # Given a navigator signed in WHEN she opens a case from the form THEN the case page's banner says so
    login(page, "nav", "navigator-demo")
    page.goto("/cases/new")
    page.locator("#mrn").fill("KEY-BANNER-1")
    page.locator("#given_name").fill("Bea")
    page.locator("#family_name").fill("Bannercase")
    page.locator("#birth_date").fill("1970-01-02")
    page.locator("#laterality").check()
    page.locator("#finding_type").select_option("mass")
    page.locator("#density").select_option("b")
    page.locator("#birads").select_option("0")
    page.locator("form.recall button[type=submit]").press("Enter")
    page.wait_for_url(re.compile(r"\?saved=opened$"), timeout=WAIT)
    expect(page.locator("#saved[role=status]")).to_be_focused(timeout=WAIT)
    expect(page.locator("#saved[role=status]")).to_contain_text("Case opened.")
    # WHEN she opens a second case for the demo's seed patient THEN the banner says whose it is now
    page.goto("/cases/new")
    page.locator("#mrn").fill("DEMO-SEED")
    page.locator("#given_name").fill("Maren")
    page.locator("#family_name").fill("Okafor-Lind")
    page.locator("#birth_date").fill("1968-04-12")
    page.locator("#laterality").check()
    page.locator("#finding_type").select_option("mass")
    page.locator("#density").select_option("c")
    page.locator("#birads").select_option("0")
    page.locator("form.recall button[type=submit]").press("Enter")
    page.wait_for_url(re.compile(r"\?saved=added_to_patient$"), timeout=WAIT)
    expect(page.locator("#saved[role=status]")).to_contain_text(
        "added to the existing patient Okafor-Lind, Maren, who has 1 other open case."
    )


def test_the_mrn_lookup_names_a_known_patient(page: Page, demo: Demo):
    # Given a navigator on the recall form WHEN she types the MRN of a demo patient and moves on
    login(page, "nav", "navigator-demo")
    page.goto("/cases/new")
    type_into(page, "mrn", "DEMO-SEED")
    page.keyboard.press("Tab")
    # THEN the page says who has it, with her open cases as links
    known = page.get_by_test_id("known-patient-found")
    expect(known).to_contain_text("Known patient:", timeout=WAIT)
    expect(known.get_by_role("link").first).to_have_attribute("href", re.compile(r"^/cases/\d+$"))
    no_violations(page, "/cases/new with a known patient")


def test_the_pages_pass_axe_and_fit_a_phone(page: Page, demo: Demo):
    # Given a navigator signed in
    login(page, "nav", "navigator-demo")
    # Then the empty form and the directory have no axe-core violations
    page.goto("/cases/new")
    no_violations(page, "/cases/new")
    page.goto("/facilities")
    expect(page.get_by_role("heading", name="Facility directory")).to_be_visible()
    page.locator("details.facility-edit summary").first.press("Enter")  # one edit form open
    no_violations(page, "/facilities")
    page.goto("/facilities")
    page.get_by_role("button", name="Add the facility").press("Enter")  # empty: the summary shows
    expect(page.get_by_test_id("problems")).to_be_focused(timeout=WAIT)
    no_violations(page, "/facilities with errors")
    page.locator("#add-name").fill("Axe Imaging")
    page.locator("#add-channel").select_option("email")
    page.locator("#add-contact").fill("films@axe.test")
    page.get_by_role("button", name="Add the facility").press("Enter")
    page.wait_for_url("**/facilities?saved=added")
    expect(page.get_by_test_id("saved")).to_be_focused(timeout=WAIT)  # the banner says it, with the focus
    expect(page.get_by_test_id("directory")).to_contain_text("Axe Imaging")

    # And at 390 px wide nothing scrolls sideways, errors shown or not
    page.set_viewport_size({"width": 390, "height": 844})
    for path in ("/cases/new", "/facilities"):
        page.goto(path)
        fits(page)
    page.goto("/cases/new")
    page.locator("form.recall button[type=submit]").press("Enter")
    expect(page.get_by_test_id("problems")).to_be_focused(timeout=WAIT)
    fits(page)
    no_violations(page, "/cases/new with every error at 390 px")
