"""ORM^O01 / OMI^O23 orders and SIU^S12-S26 scheduling: applied exactly when one open step matches
and the pathway accepts it; queued (out of order, several candidates, cancellations) or ignored
(codes and patients not followed) otherwise, each with its reason."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlmodel import select

from tests.hl7_rules_support import NOW, item, run, seed_case
from tracking.cases.models import CaseEvent, Step
from tracking.hl7.interpretation import MessageOutcome


def step(session, case_id, kind) -> Step:
    [found] = session.exec(select(Step).where(Step.case_id == case_id, Step.kind == kind)).all()
    session.refresh(found)
    return found


# --- orders ---------------------------------------------------------------------------------------


def test_an_order_links_its_accession_number_to_the_one_open_step(session):
    case_id = seed_case(session)
    result = run(session, "orm_o01_magnification.hl7")
    assert result.outcome == MessageOutcome.applied and result.case_id == case_id
    assert step(session, case_id, "magnification_views").accession_number == "ACC-100"
    again = run(session, "orm_o01_magnification.hl7")  # the same order re-sent
    assert again.outcome == MessageOutcome.applied and "already linked" in again.detail


def test_omi_and_an_order_without_orc_link_too(session):
    case_id = seed_case(session)
    assert run(session, "orm_o01_no_orc.hl7").outcome == MessageOutcome.applied
    assert step(session, case_id, "ultrasound").accession_number == "ACC-101"
    other = seed_case(session, mrn="HL7-OMI")
    assert run(session, "omi_o23_ultrasound.hl7", **{"HL7-100": "HL7-OMI", "ACC-101": "ACC-102"}).outcome == "applied"
    assert step(session, other, "ultrasound").accession_number == "ACC-102"


def test_a_right_breast_order_does_not_match_a_left_breast_step(session):
    case_id = seed_case(session)
    result = run(session, "orm_o01_magnification.hl7", **{"77065-LT": "77065-RT"})
    assert result.outcome == MessageOutcome.queued
    assert f"case {case_id}" in item(session, result.inbox_item_id).reason
    assert step(session, case_id, "magnification_views").accession_number is None


def test_a_diagnostic_order_for_a_patient_with_no_case_proposes_one_prefilled(session):
    result = run(session, "orm_o01_new_patient.hl7")
    assert result.outcome == MessageOutcome.queued
    proposal = item(session, result.inbox_item_id)
    assert proposal.kind == "open_case"
    assert proposal.payload["mrn"] == "HL7-200"
    assert proposal.payload["family_name"] == "O^Brien"  # \S\ is the component separator, escaped
    assert proposal.payload["birth_date"] == "1975-03-21"
    assert proposal.payload["laterality"] == "right"
    assert proposal.payload["contact"]["phones"] == [
        {"label": "mobile", "number": "+14135550199"},
        {"label": "work", "number": "+14135550111"},
    ]
    assert proposal.payload["contact"]["preferred_language"] == "es"
    assert proposal.details["accession"] == "ACC-200"


def test_a_screening_order_for_a_patient_with_no_case_is_ignored(session):
    result = run(session, "orm_o01_screening_new_patient.hl7")
    assert result.outcome == MessageOutcome.ignored


def test_an_unknown_procedure_code_is_ignored_with_its_code(session):
    seed_case(session)
    result = run(session, "orm_o01_unknown_code.hl7")
    assert result.outcome == MessageOutcome.ignored and "71046" in result.detail


def test_a_rejected_sender_and_an_unhandled_type(session):
    assert run(session, "oru_r01_other_sender.hl7").outcome == MessageOutcome.rejected
    assert run(session, "mdm_t02_unhandled.hl7").outcome == MessageOutcome.rejected


# --- scheduling -----------------------------------------------------------------------------------


def booked_ultrasound(session) -> int:
    case_id = seed_case(session)
    run(session, "omi_o23_ultrasound.hl7")
    result = run(session, "siu_s12_ultrasound.hl7")
    assert result.outcome == MessageOutcome.applied, result.detail
    return case_id


def test_a_booking_schedules_the_step_with_the_pathways_booking_event(session):
    case_id = booked_ultrasound(session)
    ultrasound = step(session, case_id, "ultrasound")
    assert ultrasound.status == "scheduled"
    assert ultrasound.scheduled_at == datetime(2026, 3, 20, 10, 0, tzinfo=UTC)
    event = session.exec(select(CaseEvent).where(CaseEvent.kind == "appointment_booked")).one()
    assert event.payload["step"] == "ultrasound"


def test_a_reschedule_moves_the_booking(session):
    case_id = booked_ultrasound(session)
    assert run(session, "siu_s13_ultrasound.hl7").outcome == MessageOutcome.applied
    assert step(session, case_id, "ultrasound").scheduled_at == datetime(2026, 3, 23, 14, 0, tzinfo=UTC)


def test_a_modification_that_changes_nothing_followed_is_ignored(session):
    booked_ultrasound(session)
    assert run(session, "siu_s14_ultrasound_room.hl7").outcome == MessageOutcome.ignored


def test_a_reschedule_before_its_booking_is_queued_not_guessed(session):
    case_id = seed_case(session)
    run(session, "omi_o23_ultrasound.hl7")
    result = run(session, "siu_s13_ultrasound.hl7")
    queued = item(session, result.inbox_item_id)
    assert result.outcome == MessageOutcome.queued and "out of order" in queued.reason
    assert queued.event_kind == "appointment_booked"
    assert queued.payload["scheduled_for"] == "2026-03-23T14:00:00+00:00"
    assert step(session, case_id, "ultrasound").status == "pending"


def test_a_cancellation_is_shown_to_a_person(session):
    case_id = booked_ultrasound(session)
    result = run(session, "siu_s15_ultrasound.hl7")
    queued = item(session, result.inbox_item_id)
    assert queued.kind == "review" and queued.case_id == case_id and "cancelled" in queued.reason


def test_a_no_show_starts_the_contact_attempts(session):
    case_id = seed_case(session)
    run(session, "orm_o01_magnification.hl7")
    booked = run(session, "siu_s12_magnification.hl7", now=datetime(2026, 3, 4, 12, 0, tzinfo=UTC))
    assert booked.outcome == MessageOutcome.applied, booked.detail
    result = run(session, "siu_s26_magnification.hl7")
    assert result.outcome == MessageOutcome.applied, result.detail
    missed = session.exec(select(CaseEvent).where(CaseEvent.kind == "appointment_missed")).one()
    assert missed.payload == {"step": "magnification_views"}
    assert step(session, case_id, "patient_contact").status == "pending"
    assert step(session, case_id, "magnification_views").status == "pending"


def test_a_no_show_for_a_step_never_booked_here_is_queued(session):
    seed_case(session)
    run(session, "orm_o01_magnification.hl7")
    result = run(session, "siu_s26_magnification.hl7")
    assert result.outcome == MessageOutcome.queued
    assert item(session, result.inbox_item_id).event_kind == "appointment_missed"


def test_a_booking_in_the_past_is_queued(session):
    seed_case(session)
    run(session, "orm_o01_magnification.hl7")
    result = run(session, "siu_s12_magnification.hl7", now=NOW)  # 9 March, read on the 10th
    queued = item(session, result.inbox_item_id)
    assert "already passed" in queued.reason and queued.payload["past_booking"] is True
