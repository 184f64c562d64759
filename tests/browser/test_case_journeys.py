"""A navigator's journeys on the case page in a real browser: logging a call with the keyboard alone,
booking a step late, recording a result, acknowledging an alert; then the page's accessibility
(axe-core, also with the edit form open and with an error shown) and one column on a phone."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page, expect
from sqlalchemy import Engine, text

from tests.browser.conftest import Demo, login

WAIT = 10_000  # ms for every expect
PHONE_WIDTH = 390


def focused(page: Page) -> dict:
    return page.evaluate(
        "() => { const e = document.activeElement;"
        " return {id: e.id, tag: e.tagName, text: (e.innerText || e.value || '').trim().slice(0, 200)}; }"
    )


def tab_until(page: Page, wanted, limit: int = 80) -> dict:
    """Press Tab until `wanted(focused element)` holds; fail after `limit` presses."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        now = focused(page)
        if wanted(now):
            return now
    raise AssertionError(f"Tab never reached the element; last focused: {focused(page)}")


def no_axe_violations(page: Page, where: str) -> None:
    results = Axe().run(page)
    problems = [(item["id"], item["impact"], [node["target"] for node in item["nodes"]][:3])
                for item in results.response["violations"]]  # fmt: skip
    assert results.violations_count == 0, f"axe on {where}: {problems}"


def open_case(page: Page, case_id: int) -> None:
    login(page, "nav", "navigator-demo")
    page.goto(f"/cases/{case_id}")
    expect(page.get_by_test_id("steps")).to_be_visible(timeout=WAIT)


def test_logging_a_call_with_the_keyboard_alone(page: Page, demo: Demo, engine: Engine):
    # Given the navigator is on the seed case, which has no contact step open
    seed = demo.case_ids["seed"]
    with engine.connect() as connection:
        open_contact = connection.execute(
            text("SELECT count(*) FROM steps WHERE case_id = :id AND kind = 'patient_contact'"), {"id": seed}
        ).scalar_one()
    assert open_contact == 0
    open_case(page, seed)

    # When they Tab to "Log a call or letter", follow it, choose the outcome by typing, write a note and press Enter
    tab_until(page, lambda element: element["text"] == "Log a call or letter")
    page.keyboard.press("Enter")
    tab_until(page, lambda element: element["id"] == "call-outcome")
    page.keyboard.type("left")
    expect(page.locator("#call-outcome")).to_have_value("left_message")
    tab_until(page, lambda element: element["id"] == "call-note")
    page.keyboard.type("Left a voicemail about booking the magnification views")
    tab_until(page, lambda element: element["tag"] == "BUTTON" and element["text"] == "Log it")
    page.keyboard.press("Enter")

    # Then the page says it was saved, with focus on that banner, and the timeline shows the call in words
    page.wait_for_url(re.compile(rf"/cases/{seed}\?saved=event&recorded=\d+"))
    banner = page.get_by_test_id("saved")
    expect(banner).to_contain_text("Saved: Contact with the patient (call or letter).", timeout=WAIT)
    expect(banner).to_be_focused()
    first = page.get_by_test_id("timeline").locator("li").first
    expect(first).to_contain_text("Call: left voicemail or message")
    expect(first).to_contain_text("Left a voicemail about booking the magnification views")
    expect(first).to_contain_text("Nadia Navigator")


def test_booking_a_step_after_its_due_date_shows_the_warning_with_focus(page: Page, demo: Demo):
    # Given the seed case's magnification views are overdue
    seed = demo.case_ids["seed"]
    open_case(page, seed)
    steps = page.get_by_test_id("steps")
    expect(steps.locator("tr[data-kind=magnification_views]")).to_contain_text("OVERDUE")

    # When the navigator moves through the event kinds with the arrow keys, nothing is fetched
    fetched: list[str] = []
    page.on("request", lambda request: fetched.append(request.url) if "/event-form" in request.url else None)
    page.get_by_test_id("event-kind").focus()
    for _ in range(3):
        page.keyboard.press("ArrowDown")
    expect(page.get_by_test_id("event-form")).to_have_count(0)
    assert fetched == []

    # When they choose "Appointment booked", show its form and book the views three days from now
    page.get_by_test_id("event-kind").select_option(
        label="Appointment booked (also brings back a patient lost to follow-up)"
    )
    page.get_by_role("button", name="Show the form").click()
    form = page.get_by_test_id("event-form")
    expect(form).to_contain_text("Appointment booked", timeout=WAIT)
    expect(page.locator("#event-form-title")).to_be_focused()
    form.locator("#ev-step").select_option("magnification_views")
    booked = (datetime.now(UTC) + timedelta(days=3)).replace(hour=10, minute=0)
    form.locator("#ev-scheduled_for").fill(booked.strftime("%Y-%m-%dT%H:%M"))
    form.get_by_role("button", name="Record").click()

    # Then the banner says it was saved and warns that the booking falls after the due date, and has focus
    page.wait_for_url(re.compile(rf"/cases/{seed}\?saved=event&recorded=\d+"))
    banner = page.get_by_test_id("saved")
    expect(banner).to_contain_text("Saved: Appointment booked", timeout=WAIT)
    expect(banner).to_contain_text(f"is booked for {booked:%Y-%m-%d}")
    expect(banner).to_contain_text("after it is due")
    expect(banner).to_be_focused()
    row = page.get_by_test_id("steps").locator("tr[data-kind=magnification_views]")
    expect(row).to_have_attribute("data-status", "scheduled")
    expect(row).to_contain_text(f"{booked:%Y-%m-%d}")


def test_recording_a_magnification_result_from_the_form(page: Page, demo: Demo):
    # Given the navigator is on the seed case, with no biopsy step yet
    seed = demo.case_ids["seed"]
    open_case(page, seed)
    expect(page.get_by_test_id("steps").locator("tr[data-kind=stereotactic_biopsy]")).to_have_count(0)

    # When they record the magnification read (listed first: it completes an open step)
    first_group = page.locator("#event-kind optgroup").first
    expect(first_group).to_have_attribute("label", "For this case's open steps")
    expect(first_group.locator("option[value=magnification_result]")).to_have_count(1)
    page.get_by_test_id("event-kind").select_option("magnification_result")
    page.get_by_role("button", name="Show the form").click()
    form = page.get_by_test_id("event-form")
    expect(form).to_contain_text("Magnification views read", timeout=WAIT)
    form.locator("#ev-birads").select_option("4B")
    form.locator("#ev-morphology").select_option("fine_pleomorphic")
    form.locator("#ev-distribution").select_option("grouped")
    form.get_by_role("button", name="Record").click()

    # Then the banner confirms it, BI-RADS reads 4B, a biopsy step is due, and the timeline says so in words
    banner = page.get_by_test_id("saved")
    expect(banner).to_contain_text("Saved: Magnification views read.", timeout=WAIT)
    expect(banner).to_be_focused()
    expect(page.get_by_test_id("birads")).to_have_text("4B")
    biopsy = page.get_by_test_id("steps").locator("tr[data-kind=stereotactic_biopsy]")
    expect(biopsy).to_have_attribute("data-status", "pending")
    entry = page.get_by_test_id("timeline").locator("li", has_text="Magnification views read")
    expect(entry).to_contain_text("fine pleomorphic")
    expect(page.get_by_test_id("timeline")).not_to_contain_text("fine_pleomorphic")


def test_acknowledging_an_alert_from_the_case(page: Page, demo: Demo):
    # Given the seed case has an open overdue alert
    seed = demo.case_ids["seed"]
    open_case(page, seed)
    ack_form = page.get_by_test_id("alerts").locator("form[data-testid^='ack-']").first
    ack_id = ack_form.get_attribute("data-testid")

    # When the navigator acknowledges it with what they did
    reason = "Called the patient, she is booking this week"
    ack_form.locator("input[name=reason]").fill(reason)
    ack_form.get_by_role("button", name="Acknowledge").click()

    # Then the banner says so with focus, and the alert reads acknowledged, by whom and why
    page.wait_for_url(f"**/cases/{seed}?saved=ack")
    banner = page.get_by_test_id("saved")
    expect(banner).to_contain_text("Alert acknowledged.", timeout=WAIT)
    expect(banner).to_be_focused()
    row = page.get_by_test_id("alerts").locator("tbody tr").filter(has=page.get_by_test_id(ack_id))
    expect(row).to_contain_text("acknowledged")
    expect(row).to_contain_text(f"nav: {reason}")
    expect(page.get_by_test_id("timeline")).to_contain_text("Alert acknowledged")


def test_the_case_page_passes_axe_also_with_the_edit_form_open_and_an_error_shown(page: Page, demo: Demo):
    # Given the navigator is on the seed case
    seed = demo.case_ids["seed"]
    open_case(page, seed)

    # Then the page has one h1 naming the patient and the case, and no axe violations
    expect(page.locator("h1")).to_have_count(1)
    expect(page.locator("h1")).to_contain_text(f"Okafor-Lind, Maren · case {seed}")
    no_axe_violations(page, "the case page")

    # When the contact details form is opened and the "What happened" form shown
    page.get_by_text("Edit contact details").click()
    page.get_by_test_id("event-kind").select_option("prior_films_received")
    page.get_by_role("button", name="Show the form").click()
    expect(page.locator("#ev-facility_id option", has_text="Northside Imaging Center")).to_have_count(1, timeout=WAIT)
    no_axe_violations(page, "the case page with its forms open")

    # When a phone number that is not one is saved
    page.locator("#contact-phone-0").fill("12")
    page.get_by_role("button", name="Save contact details").click()

    # Then the error summary has focus and links to the phone field, which keeps what was typed
    summary = page.get_by_test_id("problems")
    expect(summary).to_be_focused(timeout=WAIT)
    expect(summary.locator("a[href='#contact-phone-0']")).to_contain_text("Phone 1")
    expect(page.locator("#contact-phone-0")).to_have_value("12")
    no_axe_violations(page, "the case page with an error")
    summary.locator("a[href='#contact-phone-0']").click()
    expect(page.locator("#contact-phone-0")).to_be_focused()


def test_one_column_and_no_horizontal_scroll_on_a_phone(page: Page, demo: Demo):
    # Given a phone-sized window
    page.set_viewport_size({"width": PHONE_WIDTH, "height": 844})
    seed = demo.case_ids["seed"]
    open_case(page, seed)

    def overflow() -> int:
        return page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")

    # Then nothing scrolls sideways, and the sections stack in one column
    assert overflow() <= 0
    main_box = page.locator(".case-main").bounding_box()
    side_box = page.locator(".case-side").bounding_box()
    assert main_box and side_box and side_box["y"] >= main_box["y"] + main_box["height"] - 1
    # Also with the edit form open and the event form shown
    page.get_by_text("Edit contact details").click()
    page.get_by_test_id("event-kind").select_option("magnification_result")
    page.get_by_role("button", name="Show the form").click()
    expect(page.get_by_test_id("event-form")).to_be_visible(timeout=WAIT)
    assert overflow() <= 0
    no_axe_violations(page, "the case page on a phone")
