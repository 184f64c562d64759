"""Follow-up surveillance edge cases and the missed-appointment path, straight through the engine."""

from __future__ import annotations

from datetime import timedelta

from tests.factories import PROBABLY_BENIGN_MAG, MemoryCase
from tracking.pathway.decision import Decision, Refusal
from tracking.pathway.engine import next_contact_attempt


def surveillance_case(pathway, now):
    case = MemoryCase.open(pathway, now, density="b", facility_ids=())
    assert isinstance(case.record("magnification_result", PROBABLY_BENIGN_MAG, now), Decision)
    assert isinstance(case.record("result_letter_sent", {"density_sentence_included": True}, now), Decision)
    return case


def test_growth_with_birads_3_needs_an_override_reason(pathway, now):
    case = surveillance_case(pathway, now)
    later = now + timedelta(days=200)
    refused = case.record("followup_imaging_result", {"birads": "3", "change": "increased"}, later)
    assert (
        isinstance(refused, Refusal)
        and refused.guard == "G5"
        and "growth or new suspicious features" in refused.message
    )
    accepted = case.record(
        "followup_imaging_result",
        {"birads": "3", "change": "increased", "override_reason": "stable on magnification"},
        later,
    )
    assert isinstance(accepted, Decision)
    assert case.open_kinds().count("followup_12_month") == 1


def test_unstable_last_followup_continues_surveillance_instead_of_downgrading(pathway, now):
    case = surveillance_case(pathway, now)
    day = now
    for kind_due in (200, 380):
        day = now + timedelta(days=kind_due)
        assert isinstance(case.record("followup_imaging_result", {"birads": "3", "change": "stable"}, day), Decision)
    last = case.record(
        "followup_imaging_result",
        {"birads": "3", "change": "new_features", "override_reason": "radiologist reviewed"},
        now + timedelta(days=750),
    )
    assert isinstance(last, Decision)
    assert last.birads == "3" and case.state.disposition is None
    assert "followup_24_month" in case.open_kinds()
    assert any("surveillance continues" in warning for warning in last.warnings)


def test_birads_2_at_a_followup_cancels_the_remaining_followups(pathway, now):
    case = surveillance_case(pathway, now)
    case.record("assessment", {"birads": "2"}, now + timedelta(days=30))
    assert "followup_6_month" not in case.open_kinds()
    assert case.status_of("followup_6_month") == ["cancelled"]


def test_missed_appointment_calls_then_letter_then_lost(pathway, now):
    case = surveillance_case(pathway, now)
    day = now + timedelta(days=215)
    assert isinstance(case.record("appointment_missed", {"step": "followup_6_month"}, day), Decision)
    assert case.open_kinds().count("patient_contact") == 1
    expected = ["call", "call", "letter"]
    for number, method in enumerate(expected, start=1):
        assert next_contact_attempt(pathway, case.state) == method
        outcome = "letter_sent" if method == "letter" else "no_answer"
        decision = case.record("contact_attempt", {"method": method, "outcome": outcome}, day + timedelta(days=number))
        assert isinstance(decision, Decision)
    assert next_contact_attempt(pathway, case.state) == "wait"
    wait = [step for step in case.state.steps if step.kind == "patient_contact" and step.is_open]
    assert wait[0].due_at == day + timedelta(days=3 + 14)
    lost = case.record("lost_to_follow_up_declared", {"reason": "no answer"}, day + timedelta(days=20))
    assert isinstance(lost, Decision) and case.state.status == "lost_to_follow_up"
    assert "followup_6_month" in case.open_kinds()  # still visible, still overdue
    back = case.record(
        "appointment_booked",
        {"step": "followup_6_month", "scheduled_for": (day + timedelta(days=40)).isoformat()},
        day + timedelta(days=25),
    )
    assert isinstance(back, Decision) and case.state.status == "open"


def test_rescheduled_contact_books_the_missed_exam(pathway, now):
    case = surveillance_case(pathway, now)
    day = now + timedelta(days=215)
    case.record("appointment_missed", {"step": "followup_6_month"}, day)
    refused = case.record("contact_attempt", {"method": "call", "outcome": "rescheduled"}, day + timedelta(days=1))
    assert isinstance(refused, Refusal) and refused.field == "scheduled_for"
    booked = case.record(
        "contact_attempt",
        {"method": "call", "outcome": "rescheduled", "scheduled_for": (day + timedelta(days=10)).isoformat()},
        day + timedelta(days=1),
    )
    assert isinstance(booked, Decision)
    followup = next(step for step in case.state.steps if step.kind == "followup_6_month")
    assert followup.status == "scheduled"
    assert "patient_contact" not in case.open_kinds()


def test_missed_appointment_for_a_step_that_is_not_open_is_refused(pathway, now):
    case = surveillance_case(pathway, now)
    refused = case.record("appointment_missed", {"step": "stereotactic_biopsy"}, now + timedelta(days=5))
    assert isinstance(refused, Refusal) and "no open step" in refused.message
