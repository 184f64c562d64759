"""The HL7 inbox page: navigators and radiologists only; each open item prefilled for one-click
confirmation; a refusal answers 422 with an error summary naming the field and nothing saved; a
confirmation or dismissal redirects to a success banner."""

from __future__ import annotations

import re

import pytest
from sqlmodel import Session, select

from tests.hl7_rules_support import run, seed_case
from tracking.cases.models import Case, CaseEvent
from tracking.hl7.inbox_models import HL7InboxItem


@pytest.fixture
def waiting(committed) -> dict[str, int]:
    """A result with BI-RADS only in the words, a booking out of order, a proposed case."""
    with Session(committed, expire_on_commit=False) as session:
        case_id = seed_case(session)
        run(session, "orm_o01_magnification.hl7")
        run(session, "omi_o23_ultrasound.hl7")
        result = run(session, "oru_r01_magnification_text_only.hl7").inbox_item_id
        booking = run(session, "siu_s13_ultrasound.hl7").inbox_item_id
        opening = run(session, "orm_o01_new_patient.hl7").inbox_item_id
        session.commit()
    return {"case": case_id, "result": result, "booking": booking, "opening": opening}


def status(committed, item_id: int) -> str:
    with Session(committed) as session:
        return session.get(HL7InboxItem, item_id).status


@pytest.mark.parametrize("role", ["ops", "read_only", "admin"])
def test_other_roles_may_not_see_the_inbox(browser_for, waiting, role):
    browser = browser_for(role)
    assert browser.get("/hl7/inbox").status_code == 403
    assert browser.post_form(f"/hl7/inbox/{waiting['result']}/confirm").status_code == 403
    assert browser.post_form(f"/hl7/inbox/{waiting['result']}/dismiss", {"i1-reason": "x"}).status_code == 403
    assert "/hl7/inbox" not in browser.get("/worklist").text


def test_the_page_lists_each_item_prefilled_with_its_reason(browser_for, waiting):
    page = browser_for("navigator").get("/hl7/inbox")
    assert page.status_code == 200
    html = page.text
    assert html.count("<h1>") == 1
    assert 'href="/hl7/inbox" aria-current="page"' in html
    result = waiting["result"]
    assert "only in the report&#39;s words" in html
    assert re.search(rf'id="i{result}-birads"[^>]*>.*?<option value="4B" selected', html, re.S)
    assert f'href="/cases/{waiting["case"]}"' in html
    assert "Testcase, Maren (MRN HL7-100)" in html
    assert "O^Brien, Siobhan (MRN HL7-200, not known here)" in html


def test_one_click_confirm_records_and_shows_a_banner(browser_for, waiting, committed):
    browser = browser_for("radiologist")
    page = browser.get("/hl7/inbox").text
    form = prefilled_form(page, waiting["result"])
    answer = browser.post_form(f"/hl7/inbox/{waiting['result']}/confirm", form)
    assert answer.status_code == 303, answer.text
    shown = browser.get(answer.headers["location"])
    assert "Inbox item" in shown.text and "Magnification views read recorded on case" in shown.text
    assert 'data-testid="saved"' in shown.text
    with Session(committed) as session:
        assert session.get(Case, waiting["case"]).birads == "4B"
        event = session.exec(select(CaseEvent).where(CaseEvent.kind == "magnification_result")).one()
        assert event.actor == "u-radiologist"
    assert status(committed, waiting["result"]) == "confirmed"
    twice = browser.post_form(f"/hl7/inbox/{waiting['result']}/confirm", form)  # a double click
    assert twice.status_code == 303
    with Session(committed) as session:
        assert len(session.exec(select(CaseEvent).where(CaseEvent.kind == "magnification_result")).all()) == 1


def test_a_refusal_is_422_with_a_summary_naming_the_field_and_nothing_saved(browser_for, waiting, committed):
    browser = browser_for("navigator")
    form = prefilled_form(browser.get("/hl7/inbox").text, waiting["result"])
    item = waiting["result"]
    refused = browser.post_form(f"/hl7/inbox/{item}/confirm", form | {f"i{item}-birads": "2"})
    assert refused.status_code == 422
    assert "There is a problem" in refused.text
    assert f'href="#i{item}-override_reason"' in refused.text and "safety guard G5" in refused.text
    assert re.search(rf'id="i{item}-override_reason"[^>]*aria-invalid="true"', refused.text)
    assert status(committed, item) == "open"
    bad_time = browser.post_form(f"/hl7/inbox/{item}/confirm", form | {f"i{item}-occurred_at": "soon"})
    assert bad_time.status_code == 422 and f'href="#i{item}-occurred_at"' in bad_time.text


def test_a_proposed_case_needs_its_choices_then_opens(browser_for, waiting, committed):
    browser = browser_for("navigator")
    item = waiting["opening"]
    form = prefilled_form(browser.get("/hl7/inbox").text, item)
    refused = browser.post_form(f"/hl7/inbox/{item}/confirm", form)
    assert refused.status_code == 422 and f'href="#i{item}-confirm"' in refused.text
    chosen = form | {f"i{item}-finding_type": "calcifications"}
    no_density = browser.post_form(f"/hl7/inbox/{item}/confirm", chosen)
    assert no_density.status_code == 422 and f'href="#i{item}-density"' in no_density.text
    opened = browser.post_form(f"/hl7/inbox/{item}/confirm", chosen | {f"i{item}-density": "b"})
    assert opened.status_code == 303
    assert "opened" in browser.get(opened.headers["location"]).text


def test_a_radiologist_sees_a_booking_is_for_a_navigator_and_may_not_post_it(browser_for, waiting, committed):
    browser = browser_for("radiologist")
    page = browser.get("/hl7/inbox").text
    assert f'data-testid="cannot-{waiting["booking"]}"' in page
    assert browser.post_form(f"/hl7/inbox/{waiting['booking']}/confirm").status_code == 403
    assert status(committed, waiting["booking"]) == "open"


def test_dismiss_needs_a_reason(browser_for, waiting, committed):
    browser = browser_for("navigator")
    item = waiting["booking"]
    refused = browser.post_form(f"/hl7/inbox/{item}/dismiss", {f"i{item}-reason": ""})
    assert refused.status_code == 422 and f'href="#i{item}-reason"' in refused.text
    done = browser.post_form(f"/hl7/inbox/{item}/dismiss", {f"i{item}-reason": "Booked by phone already"})
    assert done.status_code == 303
    assert "dismissed" in browser.get(done.headers["location"]).text
    assert status(committed, item) == "dismissed"
    again = browser.post_form(f"/hl7/inbox/{item}/dismiss", {f"i{item}-reason": "again"})
    assert again.status_code == 303  # decided already: the banner says by whom, nothing changes
    assert "dismissed by u-navigator" in browser.get(again.headers["location"]).text
    with Session(committed) as session:
        assert session.get(HL7InboxItem, item).dismiss_reason == "Booked by phone already"


def test_an_unknown_item_is_404(browser_for, waiting):
    assert browser_for("navigator").post_form("/hl7/inbox/424242/confirm").status_code == 404


def prefilled_form(html: str, item: int) -> dict[str, str]:
    """What the browser would send from the item's confirm form as shown (selected options, values)."""
    match = re.search(rf'<form method="post" action="/hl7/inbox/{item}/confirm".*?</form>', html, re.S)
    assert match, f"no confirm form for item {item}"
    form = match.group(0)
    values = {}
    for name, value in re.findall(r'<input id="[^"]+" name="([^"]+)" type="[^"]+" value="([^"]*)"', form):
        values[name] = value
    for name, body in re.findall(r'<select id="[^"]+" name="([^"]+)"[^>]*>(.*?)</select>', form, re.S):
        chosen = re.search(r'<option value="([^"]*)" selected', body)
        values[name] = chosen.group(1) if chosen else ""
    return {name: value.replace("&#39;", "'").replace("&amp;", "&") for name, value in values.items()}
