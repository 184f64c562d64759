"""Issue 10 in the pure engine: no silent stall, lost cases, screening after closure, G5 both ways,
the density statement, past bookings, follow-up targets and errors that list what is allowed."""

from __future__ import annotations

import pytest

from tests.factories import BENIGN_MAG, PROBABLY_BENIGN_MAG, SUSPICIOUS_MAG, MemoryCase
from tracking.pathway.vocabulary import CaseStatus, StepStatus

from .support import NOW, accept, days, refuse, steps_of

MAG_AT = NOW + days(3)
LETTER = {"density_sentence_included": True}
NO_ANSWER = {"method": "call", "outcome": "no_answer"}


def opened(pathway, **kwargs) -> MemoryCase:
    return MemoryCase.open(pathway, NOW, **{"density": "a", "facility_ids": (), **kwargs})


def missed_magnification(pathway) -> MemoryCase:
    case = opened(pathway)
    accept(case, "appointment_missed", {"step": "magnification_views"}, NOW + days(2))
    assert case.open_step("patient_contact")
    return case


def lost_case(pathway) -> MemoryCase:
    case = missed_magnification(pathway)
    day = NOW + days(3)
    accept(case, "contact_attempt", NO_ANSWER, day)
    accept(case, "contact_attempt", NO_ANSWER, day + days(1))
    accept(case, "contact_attempt", {"method": "letter", "outcome": "letter_sent"}, day + days(2))
    accept(case, "lost_to_follow_up_declared", {"reason": "no answer, letter unanswered"}, day + days(20))
    assert case.state.status == CaseStatus.lost_to_follow_up
    return case


# --- the scenario from the issue ---------------------------------------------------------------------------


def test_the_reported_stall_cannot_happen(pathway):
    case = missed_magnification(pathway)
    decision = accept(case, "magnification_result", {**BENIGN_MAG, "birads": "1", "morphology": "punctate"}, MAG_AT)
    contact = steps_of(case, "patient_contact")[0]
    assert contact.id in [change.step_id for change in decision.cancel], "the patient came: no more calls"
    assert contact.status == StepStatus.cancelled
    accept(case, "result_letter_sent", LETTER, MAG_AT + days(1))
    assert case.state.status == CaseStatus.closed
    accept(case, "screening_done", {"birads": "1"}, MAG_AT + days(300))
    refusal = refuse(case, "lost_to_follow_up_declared", {"reason": "x"}, MAG_AT + days(301))
    assert "closed" in refusal.message


def test_booking_the_missed_step_again_ends_its_contact_attempts(pathway):
    case = missed_magnification(pathway)
    when = (NOW + days(10)).isoformat()
    decision = accept(case, "appointment_booked", {"step": "magnification_views", "scheduled_for": when}, NOW + days(3))
    assert not [step for step in steps_of(case, "patient_contact") if step.is_open]
    assert decision.cancel


def test_cancelling_the_missed_step_ends_its_contact_attempts(pathway):
    case = opened(pathway)
    accept(case, "magnification_result", PROBABLY_BENIGN_MAG, MAG_AT)
    accept(case, "appointment_missed", {"step": "followup_6_month"}, MAG_AT + days(190))
    assert case.open_step("patient_contact")
    accept(case, "assessment", {**SUSPICIOUS_MAG}, MAG_AT + days(191))  # upgraded: the follow-up is cancelled
    assert not [step for step in steps_of(case, "patient_contact") if step.is_open]


# --- declaring a patient lost ----------------------------------------------------------------------------


def test_declaring_lost_before_every_attempt_needs_an_override_reason(pathway):
    case = missed_magnification(pathway)
    refusal = refuse(case, "lost_to_follow_up_declared", {"reason": "gave up"}, NOW + days(3))
    assert refusal.field == "override_reason"
    assert "every contact attempt" in refusal.message and "(0 made" in refusal.message
    decision = accept(
        case,
        "lost_to_follow_up_declared",
        {"reason": "moved abroad", "override_reason": "patient's daughter says she moved to Spain"},
        NOW + days(3),
    )
    assert any("before every contact attempt" in warning for warning in decision.warnings)


def test_a_lost_case_keeps_dated_items(pathway):
    case = lost_case(pathway)
    recontact = case.open_step("lost_patient_recontact")
    notice = case.open_step("referrer_lost_notice")
    declared = case.state.history[-1].occurred_at
    assert recontact.due_at == declared + days(90)
    assert notice.due_at == declared + days(7)
    assert not [step for step in steps_of(case, "patient_contact") if step.is_open]


def test_another_failed_try_on_a_lost_case_dates_the_next_one(pathway):
    case = lost_case(pathway)
    first = case.open_step("lost_patient_recontact")
    at = first.due_at - days(1)
    accept(case, "contact_attempt", NO_ANSWER, at)
    assert case.state.status == CaseStatus.lost_to_follow_up
    assert case.open_step("lost_patient_recontact").due_at == at + days(90)


@pytest.mark.parametrize(
    ("kind", "data"),
    [
        ("prior_films_received", None),
        ("referrer_notified", {"channel": "letter"}),
        ("contact_attempt", NO_ANSWER),
    ],
)
def test_a_lost_case_does_not_come_back_on_anything(pathway, kind, data):
    case = lost_case(pathway) if kind != "prior_films_received" else None
    if case is None:  # a lost case that still waits for films
        case = MemoryCase.open(pathway, NOW, density="a", facility_ids=(11,))
        accept(case, "appointment_missed", {"step": "magnification_views"}, NOW + days(2))
        accept(case, "lost_to_follow_up_declared", {"reason": "x", "override_reason": "moved"}, NOW + days(3))
        data = {"facility_id": 11, "comparison": "stable"}
    accept(case, kind, data, NOW + days(40))
    assert case.state.status == CaseStatus.lost_to_follow_up


@pytest.mark.parametrize(
    ("kind", "data"),
    [
        ("appointment_booked", {"step": "magnification_views", "scheduled_for": (NOW + days(60)).isoformat()}),
        ("contact_attempt", {"method": "call", "outcome": "reached"}),
        (
            "contact_attempt",
            {"method": "call", "outcome": "rescheduled", "scheduled_for": (NOW + days(60)).isoformat()},
        ),
        ("magnification_result", PROBABLY_BENIGN_MAG),
    ],
)
def test_a_lost_case_comes_back_on_the_patients_side(pathway, kind, data):
    case = lost_case(pathway)
    decision = accept(case, kind, data, NOW + days(40))
    assert case.state.status == CaseStatus.open
    assert any("back in contact" in warning for warning in decision.warnings)
    assert not [step for step in steps_of(case, "lost_patient_recontact") if step.is_open]
    assert not [step for step in steps_of(case, "referrer_lost_notice") if step.is_open]


# --- G5 both ways, the density statement -----------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        {"birads": "5", "morphology": "milk_of_calcium", "distribution": "diffuse"},
        {"birads": "4A", "morphology": "punctate", "distribution": "grouped"},
    ],
)
def test_suspicious_assessment_of_benign_morphology_needs_a_reason(pathway, data):
    case = opened(pathway)
    refusal = refuse(case, "magnification_result", data, MAG_AT)
    assert refusal.guard == "G5" and refusal.field == "override_reason"
    assert "typically benign" in refusal.message
    decision = accept(case, "magnification_result", {**data, "override_reason": "layering on true lateral"}, MAG_AT)
    assert any("typically benign" in warning and "override reason recorded" in warning for warning in decision.warnings)


@pytest.mark.parametrize("distribution", ["linear", "segmental"])
@pytest.mark.parametrize("birads", ["2", "3"])
def test_low_assessment_of_a_suspicious_distribution_needs_a_reason(pathway, birads, distribution):
    case = opened(pathway)
    data = {"birads": birads, "morphology": "round", "distribution": distribution}
    refusal = refuse(case, "magnification_result", data, MAG_AT)
    assert refusal.guard == "G5" and distribution in refusal.message
    accept(case, "magnification_result", {**data, "override_reason": "vascular, second reader agrees"}, MAG_AT)


def test_result_letter_without_the_density_statement_needs_a_reason(pathway):
    case = opened(pathway)
    accept(case, "magnification_result", PROBABLY_BENIGN_MAG, MAG_AT)
    refusal = refuse(case, "result_letter_sent", {"density_sentence_included": False}, MAG_AT + days(1))
    assert refusal.field == "override_reason" and "density statement" in refusal.message
    decision = accept(
        case,
        "result_letter_sent",
        {"density_sentence_included": False, "override_reason": "sent by the referring clinic's template"},
        MAG_AT + days(1),
    )
    assert any("without the density statement" in warning for warning in decision.warnings)


# --- bookings in the past, errors in context, follow-up targets -------------------------------------------------


def test_an_appointment_in_the_past_is_refused_unless_marked_as_a_past_booking(pathway):
    case = opened(pathway)
    data = {"step": "magnification_views", "scheduled_for": "2001-03-04T09:00:00+00:00"}
    refusal = refuse(case, "appointment_booked", data, NOW + days(1))
    assert refusal.field == "scheduled_for" and "in the past" in refusal.message and "past_booking" in refusal.message
    accept(case, "appointment_booked", {**data, "past_booking": True}, NOW + days(1))


def test_no_open_step_error_lists_the_steps_the_event_can_apply_to(pathway):
    case = opened(pathway)
    refusal = refuse(case, "appointment_missed", {"step": "followup_6_month"}, NOW + days(1))
    assert "There is no open step for 6-month diagnostic mammogram" in refusal.message
    assert "Open steps this event can apply to: spot-magnification views (cc and true lateral)." in refusal.message


def test_follow_up_steps_carry_their_target_date(pathway):
    case = opened(pathway)
    decision = accept(case, "magnification_result", PROBABLY_BENIGN_MAG, MAG_AT)
    (six,) = [step for step in decision.create if step.kind == "followup_6_month"]
    assert six.target_at is not None and six.due_at - six.target_at == days(30)
    assert six.target_at.month == 9 and six.target_at.day == 5  # 6 months after 2026-03-05
    (letter,) = [step for step in decision.create if step.kind == "result_letter"]
    assert letter.target_at is None
