"""The HL7 inbox in Chromium: a radiologist confirms a prefilled result with one click and the
banner takes the focus; a guard refusal shows the error summary, focused, linking to the field;
the populated page passes axe-core and fits a 390 px phone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import Engine
from sqlmodel import Session, select

from tests.browser.conftest import Demo, login
from tests.browser.test_accessibility import PHONE, ROLES, axe_violations, horizontal_overflow
from tests.hl7_rules_support import run
from tracking.cases.models import CaseEvent

WAIT = 10_000


@pytest.fixture
def waiting(demo: Demo, engine: Engine) -> dict[str, int]:
    """On the demo's seed case (left calcifications, magnification views open): its order, then a final
    result whose BI-RADS is only in the report's words (queued); and a diagnostic order for a new patient."""
    now = datetime.now(UTC)
    exam = (now - timedelta(hours=2)).strftime("%Y%m%d%H%M")
    with Session(engine, expire_on_commit=False) as session:
        run(session, "orm_o01_magnification.hl7", now=now, **{"HL7-100": "DEMO-SEED"})
        result = run(session, "oru_r01_magnification_text_only.hl7", now=now,
                     **{"HL7-100": "DEMO-SEED", "202603051030": exam})  # fmt: skip
        opening = run(session, "orm_o01_new_patient.hl7", now=now)
        session.commit()
    assert result.inbox_item_id and opening.inbox_item_id
    return {"result": result.inbox_item_id, "opening": opening.inbox_item_id, "case": demo.case_ids["seed"]}


def test_a_radiologist_confirms_a_prefilled_result_with_one_click(page: Page, waiting, engine: Engine):
    login(page, *ROLES["radiologist"])
    page.get_by_role("link", name="HL7 inbox").click()
    item = page.get_by_test_id(f"item-{waiting['result']}")
    expect(item).to_contain_text("only in the report's words", timeout=WAIT)
    expect(item.locator(f"#i{waiting['result']}-birads")).to_have_value("4B")
    item.get_by_role("button", name="Confirm and record").click()
    banner = page.get_by_test_id("saved")
    expect(banner).to_contain_text("Magnification views read recorded on case", timeout=WAIT)
    expect(banner).to_be_focused()
    expect(page.get_by_test_id(f"item-{waiting['result']}")).to_have_count(0)
    with Session(engine) as session:
        event = session.exec(select(CaseEvent).where(CaseEvent.case_id == waiting["case"],
                                                     CaseEvent.kind == "magnification_result")).one()  # fmt: skip
        assert (event.actor, event.payload["birads"]) == ("rad", "4B")


def test_a_refusal_shows_the_error_summary_linking_to_the_field(page: Page, waiting):
    login(page, *ROLES["navigator"])
    page.goto("/hl7/inbox")
    item = waiting["result"]
    page.locator(f"#i{item}-birads").select_option("2")
    page.get_by_test_id(f"item-{item}").get_by_role("button", name="Confirm and record").click()
    summary = page.get_by_test_id("problems")
    expect(summary).to_contain_text("safety guard G5", timeout=WAIT)
    expect(summary).to_be_focused()
    summary.get_by_role("link").first.click()
    expect(page.locator(f"#i{item}-override_reason")).to_be_focused()
    expect(page.locator(f"#i{item}-birads")).to_have_value("2")  # what was typed is kept


@pytest.mark.parametrize("role", ["navigator", "radiologist"])
def test_the_waiting_inbox_is_accessible_and_fits_a_phone(page: Page, waiting, role):
    login(page, *ROLES[role])
    page.goto("/hl7/inbox")
    assert page.locator("h1").count() == 1
    assert axe_violations(page) == []
    page.set_viewport_size(PHONE)
    page.goto("/hl7/inbox")
    assert horizontal_overflow(page) <= 0, f"/hl7/inbox scrolls sideways at 390 px by {horizontal_overflow(page)} px"
