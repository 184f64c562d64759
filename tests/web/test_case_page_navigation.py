"""The case page as a navigator works it (the app, real PostgreSQL): how to reach the patient, calls
and letters, notes, tasks, the "What happened" form, the timeline for people, and outside work that
did not happen. The app's clock is its `get_now` dependency, set by each test that needs one."""

from __future__ import annotations

import html
import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from sqlmodel import Session

from tracking.cases.models import Patient
from tracking.centre_time import input_value
from tracking.web.deps import get_now

PHONE = "(202) 555-0143"
E164 = "+12025550143"


def scalar(engine, sql: str, **params):
    with engine.connect() as connection:
        return connection.execute(text(sql), params).scalar()


def rows(engine, sql: str, **params) -> list:
    with engine.connect() as connection:
        return list(connection.execute(text(sql), params))


def patient_of(engine, case_id: int) -> Patient:
    with Session(engine) as session:
        patient_id = scalar(engine, "SELECT patient_id FROM cases WHERE id = :id", id=case_id)
        patient = session.get(Patient, patient_id)
        session.expunge(patient)
        return patient


def section(page: str, testid: str, end: str) -> str:
    return page.split(f'data-testid="{testid}"', 1)[1].split(end, 1)[0]


def summary_links(page: str) -> list[str]:
    """The hrefs of the error summary at the top of the page."""
    box = page.split('id="problems"', 1)[1].split("</div>", 1)[0]
    return re.findall(r'<a href="#([^"]+)">', box)


@pytest.fixture
def clock(app):
    """The app's clock: set `clock.now` (before signing in: a long jump times a session out)."""

    class Clock:
        now = datetime.now(UTC)

    moment = Clock()
    app.dependency_overrides[get_now] = lambda: moment.now
    yield moment
    app.dependency_overrides.pop(get_now, None)


CONTACT = {
    "phone_0": PHONE, "phone_label_0": "mobile", "phone_1": "", "phone_label_1": "home",
    "preferred_language": "es", "other_language": "", "interpreter_needed": "yes", "may_leave_message": "no",
    "address": "12 Harbour Lane\nPortsmouth", "referring_provider": "Dr Alma Reyes", "primary_care_provider": "",
}  # fmt: skip


# --- how to reach her --------------------------------------------------------------------------------


def test_contact_details_are_saved_audited_by_field_name_and_shown_with_a_tel_link(browser_for, seeded_case, committed):
    navigator = browser_for("navigator")
    saved = navigator.post_form(f"/cases/{seeded_case}/contact-details", CONTACT)
    assert saved.status_code == 303, saved.text[:800]
    assert saved.headers["location"] == f"/cases/{seeded_case}?saved=contact"

    page = navigator.get(saved.headers["location"]).text
    reach = section(page, "how-to-reach", "<details")
    assert f'<a href="tel:{E164}">{PHONE}</a>' in reach
    assert "Spanish" in reach and "Interpreter needed" in reach
    assert 'data-testid="may-leave-message">no<' in reach
    assert "12 Harbour Lane" in reach and "Dr Alma Reyes" in reach
    assert "Contact details saved." in section(page, "saved", "</div>")
    assert 'id="saved" data-focus' in page

    [(actor, detail)] = [
        (actor, detail)
        for actor, detail in rows(
            committed, "SELECT actor, detail FROM audit_log WHERE action = 'patient.contact_changed'"
        )
    ]
    assert actor == "u-navigator"
    assert set(detail["fields"]) == {"phones", "address", "preferred_language", "interpreter_needed",
                                     "may_leave_message", "referring_provider"}  # fmt: skip
    stored = json.dumps(detail)
    for value in ("555", "0143", "Harbour", "Alma", '"es"', "Spanish"):
        assert value not in stored, value  # field names and ids only, never the values


def test_a_bad_phone_is_refused_with_the_summary_linking_to_the_field_and_nothing_saved(
    browser_for, seeded_case, committed
):
    navigator = browser_for("navigator")
    before = patient_of(committed, seeded_case)
    refused = navigator.post_form(f"/cases/{seeded_case}/contact-details",
                                  {**CONTACT, "phone_0": "12", "referring_provider": "Dr Kept Typed"})  # fmt: skip
    assert refused.status_code == 422
    page = refused.text
    assert summary_links(page) == ["contact-phone-0"]
    assert 'id="contact-phone-0-error"' in page and "Phone 1:" in page
    assert 'value="12"' in page and 'value="Dr Kept Typed"' in page  # what was typed is kept
    assert '<details class="edit-contact" open>' in page
    after = patient_of(committed, seeded_case)
    assert (after.phones, after.referring_provider, after.preferred_language) == (
        before.phones, before.referring_provider, before.preferred_language,
    )  # fmt: skip
    assert scalar(committed, "SELECT count(*) FROM audit_log WHERE action = 'patient.contact_changed'") == 0
    assert scalar(committed, "SELECT count(*) FROM audit_log WHERE action = 'write.refused'") == 1


phone_text = st.sampled_from(["", PHONE, "+44 20 7946 0958", "12", "not a phone", "+1 202 555 01437777"])
language = st.sampled_from([("en", ""), ("vi", ""), ("", "so"), ("", "pt-BR"), ("", "x"), ("", "123")])


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(phones=st.lists(phone_text, min_size=1, max_size=4), language=language,
       message=st.sampled_from(["", "yes", "no", "maybe"]), interpreter=st.booleans())  # fmt: skip
def test_any_combination_is_saved_whole_or_refused_whole(
    browser_for, seeded_case, committed, phones, language, message, interpreter
):
    from tracking.patients.contact_details import ContactDetails

    navigator = browser_for("navigator")
    before = patient_of(committed, seeded_case)
    form = {f"phone_{index}": number for index, number in enumerate(phones)}
    form |= {"preferred_language": language[0], "other_language": language[1], "may_leave_message": message}
    form |= {"interpreter_needed": "yes"} if interpreter else {}
    answer = navigator.post_form(f"/cases/{seeded_case}/contact-details", form)
    after = patient_of(committed, seeded_case)
    bad_phone = any(number in ("12", "not a phone", "+1 202 555 01437777") for number in phones)
    bad = bad_phone or language[1] in ("x", "123") or message == "maybe"
    if bad:
        assert answer.status_code == 422, answer.text[:500]
        assert summary_links(answer.text)  # each problem links to its field
        for link in summary_links(answer.text):
            assert f'id="{link}"' in answer.text
        assert after.phones == before.phones and after.preferred_language == before.preferred_language
    else:
        assert answer.status_code == 303, answer.text[:800]
        expected = ContactDetails.model_validate({
            "phones": [{"label": "mobile", "number": number} for number in phones if number],
            "preferred_language": language[1] or language[0], "interpreter_needed": interpreter,
            "may_leave_message": {"yes": True, "no": False}.get(message),
        })  # fmt: skip
        assert [phone["number"] for phone in after.phones] == [phone.number for phone in expected.phones]
        assert (after.preferred_language, after.interpreter_needed, after.may_leave_message) == (
            expected.preferred_language, expected.interpreter_needed, expected.may_leave_message,
        )  # fmt: skip


# --- calls, letters, notes, tasks ---------------------------------------------------------------------


def test_a_call_logged_with_no_contact_step_open_is_recorded_and_on_the_timeline(browser_for, seeded_case, committed):
    assert scalar(committed, "SELECT count(*) FROM steps WHERE kind = 'patient_contact'") == 0
    navigator = browser_for("navigator")
    page = navigator.get(f"/cases/{seeded_case}").text
    token = re.search(r'data-testid="call-form".*?name="token" value="([^"]+)"', page, re.S).group(1)
    logged = navigator.post_form(f"/cases/{seeded_case}/events", {
        "kind": "contact_attempt", "form": "contact", "token": token, "method": "call",
        "outcome": "left_message", "note": "Asked her to ring back about the magnification views",
    })  # fmt: skip
    assert logged.status_code == 303, logged.text[:800]
    event_id = scalar(committed, "SELECT id FROM case_events WHERE kind = 'contact_attempt'")
    assert logged.headers["location"] == f"/cases/{seeded_case}?saved=event&recorded={event_id}"
    after = navigator.get(logged.headers["location"]).text
    assert "Saved: Contact with the patient (call or letter)." in section(after, "saved", "</div>")
    timeline = section(after, "timeline", "</ul>")
    assert "Call: left voicemail or message" in timeline
    assert "Asked her to ring back about the magnification views" in timeline
    assert "left_message" not in timeline and "contact_attempt" not in timeline  # words, not codes


def test_a_rescheduled_call_without_the_new_date_is_refused_naming_the_field(browser_for, seeded_case, committed):
    navigator = browser_for("navigator")
    refused = navigator.post_form(f"/cases/{seeded_case}/events", {
        "kind": "contact_attempt", "form": "contact", "token": "call-1", "method": "call", "outcome": "rescheduled",
        "note": "typed and kept",
    })  # fmt: skip
    assert refused.status_code == 422
    assert summary_links(refused.text) == ["call-scheduled_for"]
    assert 'data-testid="refusal"' in refused.text and "scheduled_for" in refused.text
    assert "typed and kept</textarea>" in refused.text
    assert scalar(committed, "SELECT count(*) FROM case_events WHERE kind = 'contact_attempt'") == 0


def test_notes_are_listed_newest_first_with_author_and_time(app, clock, browser_for, seeded_case):
    navigator = browser_for("navigator")
    first = navigator.post_form(f"/cases/{seeded_case}/notes", {"body": "Prefers calls after 5 pm"})
    assert first.status_code == 303 and first.headers["location"] == f"/cases/{seeded_case}?saved=note"
    clock.now += timedelta(minutes=10)
    assert navigator.post_form(f"/cases/{seeded_case}/notes", {"body": "Daughter interprets"}).status_code == 303
    page = navigator.get(f"/cases/{seeded_case}?saved=note").text
    notes = section(page, "notes", "</ul>")
    assert notes.index("Daughter interprets") < notes.index("Prefers calls after 5 pm")
    assert "Test navigator" in notes and f"{clock.now:%Y-%m-%d %H:%M}" in notes
    assert "Note added." in section(page, "saved", "</div>")


def test_an_empty_note_is_refused_and_links_to_the_box(browser_for, seeded_case, committed):
    refused = browser_for("navigator").post_form(f"/cases/{seeded_case}/notes", {"body": "   "})
    assert refused.status_code == 422
    assert summary_links(refused.text) == ["note-body"]
    assert scalar(committed, "SELECT count(*) FROM case_notes") == 0


def test_a_task_is_added_shown_with_its_due_wording_and_closed(clock, browser_for, seeded_case, committed):
    navigator = browser_for("navigator")
    due = (clock.now + timedelta(days=3)).date().isoformat()
    added = navigator.post_form(
        f"/cases/{seeded_case}/tasks",
        {"title": "Call back about the biopsy date", "due": due, "assignee": "u-navigator"},
    )
    assert added.status_code == 303 and added.headers["location"] == f"/cases/{seeded_case}?saved=task"
    page = navigator.get(added.headers["location"]).text
    open_tasks = section(page, "open-tasks", "</ul>")
    assert "Call back about the biopsy date" in open_tasks and "due in 3 days" in open_tasks
    assert "for Test navigator" in open_tasks
    assert "Task added: Call back about the biopsy date" in section(page, "timeline", "</ul>")

    task_id = scalar(committed, "SELECT id FROM navigator_tasks")
    clock.now += timedelta(days=5)  # a day and more past its due day: overdue in words
    late = browser_for("navigator")
    assert "OVERDUE 1 day" in section(late.get(f"/cases/{seeded_case}").text, "open-tasks", "</ul>")
    done = late.post_form(f"/cases/{seeded_case}/tasks/{task_id}/close", {"outcome": "done"})
    assert done.status_code == 303 and done.headers["location"] == f"/cases/{seeded_case}?saved=task_done"
    page = late.get(done.headers["location"]).text
    assert 'data-testid="open-tasks"' not in page
    assert "Call back about the biopsy date" in section(page, "closed-tasks", "</ul>")
    assert "Task marked done." in page
    again = late.post_form(f"/cases/{seeded_case}/tasks/{task_id}/close", {"outcome": "cancel"})
    assert again.status_code == 422 and "already done" in again.text
    assert late.post_form(f"/cases/{seeded_case}/tasks/{task_id + 99}/close", {"outcome": "done"}).status_code == 404
    assert scalar(committed, "SELECT status FROM navigator_tasks") == "done"


def test_a_task_due_in_the_past_is_refused_keeping_what_was_typed(clock, browser_for, seeded_case, committed):
    yesterday = (clock.now - timedelta(days=1)).date().isoformat()
    refused = browser_for("navigator").post_form(f"/cases/{seeded_case}/tasks",
                                                 {"title": "Chase the referrer", "due": yesterday})  # fmt: skip
    assert refused.status_code == 422
    assert summary_links(refused.text) == ["task-due"]
    assert "in the past" in refused.text and 'value="Chase the referrer"' in refused.text
    assert scalar(committed, "SELECT count(*) FROM navigator_tasks") == 0


@pytest.mark.parametrize("role", ["radiologist", "ops", "read_only"])
def test_only_navigators_may_change_contact_details_notes_and_tasks(role, browser_for, seeded_case, committed):
    from tracking.navigation.tasks import add_task

    with Session(committed) as session:
        task = add_task(session, seeded_case, "Existing task", datetime.now(UTC) + timedelta(days=2), actor="test",
                        now=datetime.now(UTC))  # fmt: skip
        session.commit()
        task_id = task.id
    browser = browser_for(role)
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).date().isoformat()
    for path, data in (
        (f"/cases/{seeded_case}/contact-details", CONTACT),
        (f"/cases/{seeded_case}/notes", {"body": "A note"}),
        (f"/cases/{seeded_case}/tasks", {"title": "A task", "due": tomorrow}),
        (f"/cases/{seeded_case}/tasks/{task_id}/close", {"outcome": "done"}),
    ):
        assert browser.post_form(path, data).status_code == 403, path
    page = browser.get(f"/cases/{seeded_case}").text
    for form in ("contact-form", "note-form", "task-form", "call-form"):
        assert f'data-testid="{form}"' not in page, form
    assert "/close" not in page
    assert scalar(committed, "SELECT count(*) FROM case_notes") == 0
    assert scalar(committed, "SELECT status FROM navigator_tasks") == "open"


# --- the timeline for people -------------------------------------------------------------------------


def test_system_events_are_hidden_by_default_and_shown_with_the_toggle(browser_for, seeded_case, committed):
    with committed.begin() as connection:
        connection.execute(text(
            "UPDATE notifications SET attempts = 1, last_error = 'receiver away: SMTP films@northside.test: "
            "ConnectionRefusedError: [Errno 111] Connection refused' WHERE channel = 'email'"
        ))  # fmt: skip
    navigator = browser_for("navigator")
    page = navigator.get(f"/cases/{seeded_case}").text
    assert "ConnectionRefusedError" not in page and "workup flow run" not in page
    assert 'data-testid="system-timeline"' not in page
    assert f'href="/cases/{seeded_case}?system=1#system-heading"' in page
    assert "Case opened" in section(page, "timeline", "</ul>")

    shown = navigator.get(f"/cases/{seeded_case}?system=1").text
    system = section(shown, "system-timeline", "</ul>")
    assert "ConnectionRefusedError" in system and "workup flow run (pending)" in system
    people = section(shown, "timeline", "</ul>")
    assert "ConnectionRefusedError" not in people and "workup flow run" not in people  # never mixed in
    assert "Hide system events" in shown


def test_prior_film_requests_say_whether_their_message_left(browser_for, seeded_case, committed):
    with committed.begin() as connection:
        connection.execute(text(
            "UPDATE notifications SET attempts = 2, last_error = 'receiver away: SMTP: ConnectionRefusedError' "
            "WHERE channel = 'email' AND kind = 'prior_film_request'"
        ))  # fmt: skip
        connection.execute(text(
            "UPDATE notifications SET status = 'dead', attempts = 8, failures = 8, last_error = 'HTTP 410' "
            "WHERE channel = 'webhook' AND kind = 'prior_film_request'"
        ))  # fmt: skip
    page = browser_for("navigator").get(f"/cases/{seeded_case}").text
    priors = section(page, "priors", "</table>")
    northside = priors.split('data-facility="Test Northside Imaging"')[1].split("</tr>")[0]
    lakeview = priors.split('data-facility="Test Lakeview Health"')[1].split("</tr>")[0]
    assert "first request: waiting to retry because the mail server is away" in northside
    assert "first request: failed: not sent" in lakeview
    with committed.begin() as connection:
        connection.execute(text(
            "UPDATE notifications SET status = 'delivered', delivered_at = now(), last_error = NULL "
            "WHERE channel = 'email' AND kind = 'prior_film_request'"
        ))  # fmt: skip
    priors = section(browser_for("navigator").get(f"/cases/{seeded_case}").text, "priors", "</table>")
    assert "first request: sent" in priors.split('data-facility="Test Northside Imaging"')[1].split("</tr>")[0]


def test_outside_work_that_did_not_happen_is_boxed_at_the_top(browser_for, committed):
    from tests.web.test_stuck_work_pages import stuck_case

    case_id, _ = stuck_case(committed)
    page = browser_for("navigator").get(f"/cases/{case_id}").text
    box = section(page, "case-stuck-work", "</section>")
    assert "Northside Imaging never received the prior film request" in box
    assert "Outside work for this case failed to run" in box
    assert page.index('data-testid="case-stuck-work"') < page.index('data-testid="how-to-reach"')
    alert_id = scalar(committed, "SELECT id FROM alerts WHERE kind = 'delivery_failed'")
    assert f'href="#alert-{alert_id}"' in box and f'<tr id="alert-{alert_id}">' in page


# --- the "What happened" form ------------------------------------------------------------------------


def test_events_for_the_open_steps_come_first(browser_for, seeded_case):
    page = browser_for("navigator").get(f"/cases/{seeded_case}").text
    chooser = page.split('data-testid="event-kind"', 1)[1].split("</select>", 1)[0]
    first, other = chooser.split('<optgroup label="Other">')
    assert "For this case&#39;s open steps" in first or "For this case's open steps" in first
    for kind in ("magnification_result", "ultrasound_result", "prior_films_received", "appointment_booked"):
        assert f'value="{kind}"' in first, kind
    for kind in ("biopsy_scheduled", "pathology_result", "lost_to_follow_up_declared", "contact_attempt"):
        assert f'value="{kind}"' in other, kind
    assert "hx-trigger" not in chooser and "Show the form" in page  # no request per arrow key


def test_the_form_opens_without_javascript_and_through_htmx(browser_for, seeded_case):
    navigator = browser_for("navigator")
    page = navigator.get(f"/cases/{seeded_case}?event=magnification_result").text
    form = section(page, "event-form", "</form>")
    assert "Magnification views read" in form and 'id="ev-birads"' in form
    assert 'value="magnification_result" selected' in page
    swapped = navigator.get(f"/cases/{seeded_case}/event-form?event=ultrasound_result", headers={"HX-Request": "1"})
    assert swapped.status_code == 200 and 'id="ev-findings"' in swapped.text
    nothing = navigator.get(f"/cases/{seeded_case}/event-form?event=", headers={"HX-Request": "1"})
    assert nothing.status_code == 200 and "Choose what happened first" in nothing.text


def test_prior_film_facility_is_chosen_by_name(browser_for, seeded_case, committed):
    facilities = dict(rows(committed, "SELECT name, id FROM outside_facilities"))
    form = browser_for("navigator").get(f"/cases/{seeded_case}/event-form?kind=prior_films_received").text
    select = form.split('id="ev-facility_id"', 1)[1].split("</select>", 1)[0]
    for name, facility_id in facilities.items():
        assert f'<option value="{facility_id}" >{html.escape(name)}</option>' in select
    assert 'type="number"' not in form.split('id="ev-facility_id"', 1)[0].rsplit("<label", 1)[1]


def test_a_booking_after_the_due_date_is_saved_with_its_warning_in_the_banner(
    app, clock, configure, browser_for, seeded_case, committed
):
    configure(WORKUP_TIMEZONE="America/New_York")
    due = scalar(committed, "SELECT due_at FROM steps WHERE kind = 'magnification_views'")
    clock.now = due + timedelta(days=3)
    navigator = browser_for("navigator")
    booked_for = (clock.now + timedelta(days=2)).replace(second=0, microsecond=0)
    typed = input_value(booked_for)  # on the centre's clock (New York), as a person types it
    assert typed != booked_for.strftime("%Y-%m-%dT%H:%M")
    saved = navigator.post_form(f"/cases/{seeded_case}/events", {
        "kind": "appointment_booked", "step": "magnification_views", "scheduled_for": typed, "token": "book-1",
    })  # fmt: skip
    assert saved.status_code == 303, saved.text[:800]
    assert scalar(committed, "SELECT scheduled_at FROM steps WHERE kind = 'magnification_views'") == booked_for
    page = navigator.get(saved.headers["location"]).text
    banner = section(page, "saved", "</div>")
    assert "Saved: Appointment booked" in banner
    assert "is booked for" in banner and "after it is due" in banner
    assert 'id="saved" data-focus' in page
    assert "(EST)" in page or "(EDT)" in page  # the zone is in the date-time labels


def test_a_refused_event_keeps_the_form_with_the_summary_linking_to_the_field(browser_for, seeded_case, committed):
    navigator = browser_for("navigator")
    refused = navigator.post_form(f"/cases/{seeded_case}/events", {
        "kind": "appointment_booked", "step": "magnification_views", "scheduled_for": "2026-13-45T09:00",
    })  # fmt: skip
    assert refused.status_code == 422
    assert summary_links(refused.text) == ["ev-scheduled_for"]
    assert 'id="ev-scheduled_for-error"' in refused.text and 'value="2026-13-45T09:00"' in refused.text
    swapped = navigator.post_form(f"/cases/{seeded_case}/events", {
        "kind": "biopsy_scheduled", "procedure": "stereotactic", "scheduled_for": "2030-01-01T09:00",
    }, headers={"HX-Request": "true"})  # fmt: skip
    assert swapped.status_code == 200  # htmx swaps the form in place
    assert 'data-testid="refusal"' in swapped.text and "Not saved: safety guard G1" in swapped.text
    assert re.search(r'id="problems" data-focus', swapped.text)
    assert scalar(committed, "SELECT count(*) FROM case_events WHERE kind <> 'case_opened'") == 0


@pytest.mark.parametrize(
    ("saved", "banner"),
    [("opened", "Case opened."), ("note", "Note added."), ("task", "Task added."), ("contact", "Contact details saved."),
     ("task_done", "Task marked done."), ("ack", "Alert acknowledged."), ("event", "Saved.")],
)  # fmt: skip
def test_each_save_has_its_banner_and_an_unknown_one_none(browser_for, seeded_case, saved, banner):
    navigator = browser_for("navigator")
    page = navigator.get(f"/cases/{seeded_case}?saved={saved}").text
    assert f"<strong>{banner}</strong>" in section(page, "saved", "</div>")
    assert 'role="status" tabindex="-1" id="saved" data-focus' in page
    assert '<script src="/static/focus.js" defer></script>' in page
    assert 'data-testid="saved"' not in navigator.get(f"/cases/{seeded_case}?saved=whatever").text
    other_case = navigator.get(f"/cases/{seeded_case}?saved=event&recorded=999999").text
    assert "<strong>Saved.</strong>" in other_case  # an event of no case of this page: no title, no warnings


def test_each_prior_film_step_names_its_facility(browser_for, seeded_case):
    page = browser_for("navigator").get(f"/cases/{seeded_case}").text
    steps = section(page, "steps", "</table>")
    assert "Prior mammograms from an outside facility: Test Northside Imaging" in steps
    assert "Prior mammograms from an outside facility: Test Lakeview Health" in steps
