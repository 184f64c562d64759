"""The HL7 message-log page: who may see it, its filters (a bad value is named, never a 500), paging,
links to cases, and no message content on it."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from tests.hl7_support import FakeInterpreter, corpus, message
from tracking.hl7.intake import receive_message
from tracking.hl7.interpretation import Interpretation, MessageOutcome

NOW = datetime.now(UTC).replace(microsecond=0)


def shown_ids(page_text: str) -> list[int]:
    return [int(found) for found in re.findall(r'data-message="(\d+)"', page_text)]


@pytest.fixture
def logged(committed, seeded_case):
    """Three messages: applied to the seeded case (yesterday), a Latin-1 ADT ignored (today), one rejected."""
    applied = FakeInterpreter(Interpretation(MessageOutcome.applied, "BI-RADS recorded", seeded_case))
    ignored = FakeInterpreter(Interpretation(MessageOutcome.ignored, "not a tracked patient"))
    ids = {
        "applied": receive_message(committed, corpus("oru_r01_lf.hl7"), now=NOW - timedelta(days=1),
                                   interpreter=applied).message_id,
        "ignored": receive_message(committed, corpus("adt_a08_latin1.hl7"), now=NOW, interpreter=ignored).message_id,
        "rejected": receive_message(committed, corpus("unknown_charset.hl7"), now=NOW,
                                    interpreter=ignored).message_id,
    }  # fmt: skip
    return ids


@pytest.mark.parametrize("role", ["navigator", "ops", "admin"])
def test_the_roles_that_follow_the_interface_see_the_log(browser_for, logged, seeded_case, role):
    page = browser_for(role).get("/hl7/messages")
    assert page.status_code == 200
    assert sorted(shown_ids(page.text)) == sorted(logged.values())
    assert f'href="/cases/{seeded_case}"' in page.text
    assert "NS-ORU-0001" in page.text and "ORU^R01" in page.text and "RIS^NORTHSIDE" in page.text
    assert 'aria-current="page">HL7 messages' in page.text


@pytest.mark.parametrize("role", ["radiologist", "read_only"])
def test_other_roles_may_not_open_it_or_see_the_link(browser_for, role):
    browser = browser_for(role)
    assert browser.get("/hl7/messages").status_code == 403
    assert 'href="/hl7/messages"' not in browser.get("/worklist").text


def test_no_message_content_is_on_the_page(browser_for, logged):
    page = browser_for("ops").get("/hl7/messages").text
    for content in ("Müller", "MRN1003", "Testpatient", "MRN1001", "Grouped calcifications", "Harbour"):
        assert content not in page, content


def test_filters_by_outcome_type_sender_and_days(browser_for, logged):
    browser = browser_for("navigator")
    assert shown_ids(browser.get("/hl7/messages?outcome=rejected").text) == [logged["rejected"]]
    assert shown_ids(browser.get("/hl7/messages?type=adt").text) == [logged["ignored"]]
    assert shown_ids(browser.get("/hl7/messages?type=ORU^R01").text) == [logged["rejected"], logged["applied"]]
    assert shown_ids(browser.get("/hl7/messages?sender=PACS").text) == []
    today = NOW.astimezone(UTC).date()
    since_today = shown_ids(browser.get(f"/hl7/messages?from={today}").text)
    assert sorted(since_today) == sorted([logged["ignored"], logged["rejected"]])
    assert shown_ids(browser.get(f"/hl7/messages?to={today - timedelta(days=1)}").text) == [logged["applied"]]


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ("outcome=lost", "No outcome called 'lost'; showing every outcome."),
        ("type=ORU%3Cscript%3E", "is not a message type such as ORU or ORU^R01"),
        ("from=2026-13-45", "From '2026-13-45' is not a date (write it as 2026-12-03); ignored."),
        ("to=yesterday", "To 'yesterday' is not a date"),
        ("from=2026-03-05&to=2026-03-01", "To (2026-03-01) is before From (2026-03-05)"),
        ("sender=%00abc", "cannot be a sender's name"),
        ("page=abc", "'abc' is not a page number; showing page 1."),
        ("page=0", "There is no page 0; showing page 1."),
        ("page=00000", "There is no page 0; showing page 1."),
        ("page=99", "There is no page 99; showing page 1, the last."),
    ],
)
def test_a_bad_filter_value_is_named_and_ignored_never_a_500(browser_for, logged, query, words):
    page = browser_for("ops").get(f"/hl7/messages?{query}")
    assert page.status_code == 200
    assert words.replace("'", "&#39;").replace("<", "&lt;") in page.text or words in page.text, page.text[:3000]
    assert shown_ids(page.text), "the list is still shown"


def test_pages_of_fifty_newest_first(browser_for, committed):
    fake = FakeInterpreter(Interpretation(MessageOutcome.ignored, "paging"))
    for number in range(55):
        receive_message(committed, message(f"PAGE-{number:02d}"), now=NOW + timedelta(seconds=number), interpreter=fake)
    browser = browser_for("ops")
    first, second = browser.get("/hl7/messages"), browser.get("/hl7/messages?page=2")
    assert len(shown_ids(first.text)) == 50 and len(shown_ids(second.text)) == 5
    assert "PAGE-54" in first.text and "PAGE-04" in second.text and "PAGE-05" not in second.text
    assert 'href="/hl7/messages?page=2"' in first.text and "55 messages" in first.text


def test_a_view_is_audited_with_the_cases_it_showed(browser_for, logged, seeded_case, committed, users):
    browser_for("ops").get("/hl7/messages")
    with committed.connect() as connection:
        details = connection.execute(
            text("SELECT detail FROM audit_log WHERE action = 'hl7.messages_listed' AND actor = :actor"),
            {"actor": users["ops"]},
        ).scalars().all()  # fmt: skip
    assert [detail["case_ids"] for detail in details] == [[seeded_case]]


ODD_VALUES = st.one_of(
    st.text(max_size=30),
    st.sampled_from(["", "queued", "REJECTED", "ORU^R01", "adt", "2026-02-30", "2026-03-02", "0", "-1", "1e9",
                     "99999999999999999999", "RIS^NORTHSIDE", "%", "_", "\\", "^", "<b>"]),
)  # fmt: skip


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(params=st.dictionaries(st.sampled_from(["outcome", "type", "sender", "from", "to", "page"]), ODD_VALUES))
def test_any_combination_of_filter_values_answers_a_page_never_an_error(ops_browser, params):
    page = ops_browser.get("/hl7/messages", params=params)
    assert page.status_code == 200, (repr(params), page.text[page.text.find("<main") :][:600])
    assert "<h1>HL7 messages" in page.text and 'data-testid="hl7-messages"' in page.text


@pytest.fixture
def ops_browser(browser_for, logged):
    return browser_for("ops")
