"""A navigator's own work on real PostgreSQL: contact details, notes, tasks and the facility directory.

Each service writes in the caller's transaction, refuses bad input with a sentence naming what is
wrong (nothing written), and audits with ids and field names only, never the values (PHI).
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlmodel import select

from tests.factories import seed_opening
from tests.flows.test_stalled_cases import CATCH_UP, stalled_alerts
from tracking.alerts.sweep import sweep_overdue
from tracking.audit import AuditEntry
from tracking.cases.errors import InvalidInput, NotFound
from tracking.cases.models import OutsideFacility, Patient
from tracking.cases.opening import open_case
from tracking.facilities.directory import FacilityEntry, add_facility, facility_named, update_facility
from tracking.navigation.notes import add_note, case_notes
from tracking.navigation.tasks import add_task, case_tasks, close_task
from tracking.patients.contact_details import ContactDetails, contact_details, update_contact_details


def opened(session, now, **overrides):
    return open_case(session, seed_opening(facilities=[], **overrides), actor="nav", now=now).case_id


def audit_rows(session, action):
    session.flush()
    return list(session.exec(select(AuditEntry).where(AuditEntry.action == action)))


# --- contact details ---------------------------------------------------------------------------------------


def test_contact_details_are_stored_normalised_and_audited_by_field_name_only(session, now):
    case_id = opened(session, now)
    patient_id = session.execute(text("SELECT patient_id FROM cases WHERE id = :id"), {"id": case_id}).scalar()
    details = ContactDetails(
        phones=[{"label": "mobile", "number": "(202) 555-0143"}, {"label": "home", "number": "+44 20 7946 0958"}],
        address="12 Elm Street\r\nSpringfield, IL 62701",
        preferred_language="ES",
        interpreter_needed=True,
        may_leave_message=False,
        referring_provider="Dr. Ana Ruiz",
        primary_care_provider="  ",
    )
    changed = update_contact_details(session, patient_id, details, actor="nav", now=now, case_id=case_id)
    assert set(changed) == {"phones", "address", "preferred_language", "interpreter_needed", "may_leave_message",
                            "referring_provider"}  # fmt: skip
    patient = session.get(Patient, patient_id)
    assert patient.phones == [
        {"label": "mobile", "number": "+12025550143"},
        {"label": "home", "number": "+442079460958"},
    ]
    assert patient.address == "12 Elm Street\nSpringfield, IL 62701"
    assert (patient.preferred_language, patient.interpreter_needed, patient.may_leave_message) == ("es", True, False)
    assert (patient.primary_care_provider, patient.contact_updated_at) == (None, now)
    assert contact_details(patient).phones[0].number == "+12025550143"
    [row] = audit_rows(session, "patient.contact_changed")
    assert row.case_id == case_id and sorted(row.detail["fields"]) == sorted(changed)
    assert "555" not in str(row.detail) and "Elm" not in str(row.detail) and "Ruiz" not in str(row.detail)
    assert update_contact_details(session, patient_id, details, actor="nav", now=now) == []  # nothing changed
    assert len(audit_rows(session, "patient.contact_changed")) == 1


@pytest.mark.parametrize(
    ("field", "value", "named"),
    [
        ("phones", [{"label": "mobile", "number": "12"}], "phone number"),
        ("phones", [{"label": "mobile", "number": "call me maybe"}], "phone number"),
        ("phones", [{"label": "pager", "number": "2025550143"}], "label"),
        ("phones", [{"label": "mobile", "number": "2025550143"}] * 5, "phones"),
        ("address", "12 Elm\x00Street", "address"),
        ("preferred_language", "klingon language", "preferred_language"),
        ("referring_provider", "Dr.\nRuiz", "referring_provider"),
    ],
)
def test_bad_contact_details_are_refused_naming_the_field(field, value, named):
    with pytest.raises(ValidationError) as refused:
        ContactDetails(**{field: value})
    assert named in str(refused.value)


def test_contact_details_of_no_patient_is_not_found(session, now):
    with pytest.raises(NotFound):
        update_contact_details(session, 424242, ContactDetails(), actor="nav", now=now)


# --- notes -------------------------------------------------------------------------------------------------


def test_notes_are_kept_in_order_and_cannot_be_changed(session, now):
    case_id = opened(session, now)
    add_note(session, case_id, "Left voicemail; will try after 5.", actor="nav", now=now)
    add_note(session, case_id, "  Patient asked for a Spanish interpreter.\r\n", actor="nav2", now=now + timedelta(1))
    notes = case_notes(session, case_id)
    assert [(n.author, n.body) for n in notes] == [("nav", "Left voicemail; will try after 5."),
                                                   ("nav2", "Patient asked for a Spanish interpreter.")]  # fmt: skip
    assert [row.detail["note_id"] for row in audit_rows(session, "case.note_added")] == [n.id for n in notes]
    with pytest.raises(DBAPIError, match="append-only"), session.begin_nested():
        session.execute(text("UPDATE case_notes SET body = 'changed'"))


@pytest.mark.parametrize(("body", "says"), [("", "empty"), ("   \n ", "empty"), ("x" * 4001, "4000"),
                                             ("bell\x07", "control")])  # fmt: skip
def test_a_bad_note_is_refused_and_nothing_is_written(session, now, body, says):
    case_id = opened(session, now)
    with pytest.raises(InvalidInput, match=says):
        add_note(session, case_id, body, actor="nav", now=now)
    assert case_notes(session, case_id) == []


# --- tasks -------------------------------------------------------------------------------------------------


def test_tasks_open_and_close_once(session, now):
    case_id = opened(session, now)
    later = add_task(session, case_id, "Send the Spanish letter", now + timedelta(days=5), actor="nav", now=now)
    sooner = add_task(session, case_id, "Call back  Thursday", now + timedelta(days=2), actor="nav", now=now)
    assert sooner.title == "Call back Thursday"
    assert [t.id for t in case_tasks(session, case_id)] == [sooner.id, later.id]
    close_task(session, sooner.id, done=True, actor="nav", now=now + timedelta(days=1))
    with pytest.raises(InvalidInput, match="already done"):
        close_task(session, sooner.id, done=False, actor="nav", now=now + timedelta(days=1))
    with pytest.raises(NotFound):
        close_task(session, later.id, done=True, actor="nav", now=now, case_id=case_id + 1)
    assert [(t.id, t.status) for t in case_tasks(session, case_id)] == [(later.id, "open"), (sooner.id, "done")]
    session.flush()
    next_task = text("SELECT next_task_due_at FROM cases WHERE id = :id")
    assert session.execute(next_task, {"id": case_id}).scalar() == later.due_at  # kept by the trigger
    close_task(session, later.id, done=False, actor="nav", now=now + timedelta(days=1))
    session.flush()
    assert session.execute(next_task, {"id": case_id}).scalar() is None


@pytest.mark.parametrize(
    ("title", "due_in_days", "assignee", "says"),
    [("", 2, None, "title"), ("x" * 201, 2, None, "200"), ("Call\x07back", 2, None, "control characters"),
     ("Call back", -1, None, "past"), ("Call back", 500, None, "400 days"), ("Call back", 2, "nobody", "no active user")],
)  # fmt: skip
def test_a_bad_task_is_refused(session, now, title, due_in_days, assignee, says):
    case_id = opened(session, now)
    with pytest.raises(InvalidInput, match=says):
        add_task(session, case_id, title, now + timedelta(days=due_in_days), actor="nav", now=now, assignee=assignee)
    assert case_tasks(session, case_id) == []


def test_an_open_task_not_yet_due_is_a_next_item_for_the_stall_sweep(session, now):
    """A case with nothing next but a dated task is not stalled; once the task is past due (forgotten) it is."""
    case_id = opened(session, now, mrn="TASK-1", density="b")
    session.execute(CATCH_UP)
    task = add_task(session, case_id, "Call back about the biopsy date", now + timedelta(days=3), actor="nav", now=now)
    session.execute(text("UPDATE steps SET status = 'cancelled' WHERE case_id = :id AND status IN ('pending', "
                         "'scheduled')"), {"id": case_id})  # fmt: skip
    assert sweep_overdue(session, now + timedelta(days=1)).cases_stalled == 0
    assert stalled_alerts(session, case_id) == []
    assert sweep_overdue(session, now + timedelta(days=4)).cases_stalled == 1  # the task is past due
    [alert] = stalled_alerts(session, case_id)
    assert alert.status == "open"
    close_task(session, task.id, done=True, actor="nav", now=now + timedelta(days=4))
    add_task(session, case_id, "Chase the films", now + timedelta(days=10), actor="nav", now=now + timedelta(days=4))
    sweep_overdue(session, now + timedelta(days=5))
    [alert] = stalled_alerts(session, case_id)
    assert alert.status == "resolved", "a new dated task is a next item again"


# --- the facility directory ----------------------------------------------------------------------------------


def test_the_directory_adds_finds_and_edits_facilities_by_name(session, now):
    entry = FacilityEntry(name="  Mercy   Imaging ", channel="fax", contact="(202) 555-0111", phone="202 555 0112")
    facility = add_facility(session, entry, actor="nav", now=now)
    assert (facility.name, facility.contact, facility.phone) == ("Mercy Imaging", "+12025550111", "+12025550112")
    assert facility_named(session, "mercy imaging").id == facility.id
    with pytest.raises(InvalidInput, match="already has a facility named 'Mercy Imaging'"):
        add_facility(session, FacilityEntry(name="MERCY IMAGING", channel="email", contact="films@mercy.test"),
                     actor="nav", now=now)  # fmt: skip
    changed = update_facility(session, facility.id, FacilityEntry(name="Mercy Imaging", channel="email",
                              contact="films@mercy.test", phone="202 555 0112"), actor="nav", now=now)  # fmt: skip
    assert changed == ["channel", "contact"]
    assert [row.detail for row in audit_rows(session, "facility.changed")] == [
        {"facility_id": facility.id, "fields": ["channel", "contact"]}
    ]
    with pytest.raises(NotFound):
        update_facility(session, 424242, entry, actor="nav", now=now)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    channel=st.sampled_from(["email", "fax", "phone", "post", "webhook", "carrier pigeon"]),
    contact=st.one_of(st.text(max_size=30), st.sampled_from(["films@x.test", "+1 202 555 0143", "ftp://x", "12"])),
    phone=st.one_of(st.none(), st.text(max_size=20)),
)
def test_a_facility_entry_is_valid_or_refused_with_a_reason(channel, contact, phone):
    try:
        entry = FacilityEntry(name="Any", channel=channel, contact=contact, phone=phone)
    except ValidationError as refused:
        assert refused.errors() and all(error["msg"] for error in refused.errors())
        return
    assert entry.contact.strip() == entry.contact and entry.contact
    assert entry.phone is None or entry.phone.startswith("+")


def test_a_facility_added_by_a_case_opening_is_in_the_directory(session, now):
    open_case(session, seed_opening(), actor="nav", now=now)
    names = [f.name for f in session.exec(select(OutsideFacility))]
    assert all(facility_named(session, name.upper()) is not None for name in names) and names
