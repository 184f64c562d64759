"""A call or letter is logged whenever it happens (pathway version 2), and a late booking warns.

Version 2 of both pathway files marks `contact_attempt` `completes_when_open`: with an open
contact step it completes it (the missed-appointment chain goes on as before); with none it is
recorded and plans nothing. Version 1, kept for the cases pinned to it, still refuses it.
"""

from __future__ import annotations

import pytest

from tests.conftest import PATHWAY_FILE
from tests.factories import MemoryCase
from tracking.pathway.definition import load_pathway
from tracking.pathway.vocabulary import CaseStatus

from .support import NOW, accept, days, refuse, steps_of

PATHWAYS = PATHWAY_FILE.parent
CALLS = [
    {"method": "call", "outcome": "no_answer"},
    {"method": "call", "outcome": "left_message", "note": "voicemail, will try after 5"},
    {"method": "call", "outcome": "wrong_number"},
    {"method": "call", "outcome": "reached"},
    {"method": "letter", "outcome": "letter_sent"},
]


@pytest.fixture(params=["calcifications.yaml", "masses.yaml"])
def current(request):
    return load_pathway(PATHWAYS / request.param)


def opened(pathway) -> MemoryCase:
    finding = pathway.finding_types[0]
    return MemoryCase.open(pathway, NOW, density="a", facility_ids=(), finding_type=finding)


@pytest.mark.parametrize("call", CALLS, ids=lambda call: call["outcome"])
def test_a_call_with_no_contact_step_open_is_recorded_and_plans_nothing(current, call):
    case = opened(current)
    before = sorted((step.kind, step.status) for step in case.state.steps)
    decision = accept(case, "contact_attempt", call, NOW + days(1))
    assert (decision.create, decision.complete, decision.cancel, decision.schedule) == ([], [], [], [])
    assert sorted((step.kind, step.status) for step in case.state.steps) == before
    assert case.state.status == CaseStatus.open


def test_rescheduling_needs_a_missed_appointment(current):
    case = opened(current)
    refusal = refuse(case, "contact_attempt", {"method": "call", "outcome": "rescheduled",
                                                "scheduled_for": (NOW + days(9)).isoformat()}, NOW + days(1))  # fmt: skip
    assert "missed appointment" in refusal.message or "no open step" in refusal.message


def test_with_a_contact_step_open_the_call_still_completes_it(current):
    case = opened(current)
    missed = current.no_show.steps[0]
    if not case.open_step(missed):
        pytest.skip(f"{current.name} does not open with {missed}")
    accept(case, "appointment_missed", {"step": missed}, NOW + days(2))
    contact = [step for step in steps_of(case, "patient_contact") if step.is_open]
    assert len(contact) == 1
    decision = accept(case, "contact_attempt", {"method": "call", "outcome": "no_answer"}, NOW + days(3))
    assert contact[0].id in [change.step_id for change in decision.complete]
    assert [step for step in steps_of(case, "patient_contact") if step.is_open], "the next attempt is dated"


def test_version_1_cases_keep_their_rule():
    version_1 = load_pathway(PATHWAYS / "calcifications-v1.yaml")
    assert version_1.version == 1
    case = MemoryCase.open(version_1, NOW, density="a", facility_ids=())
    refusal = refuse(case, "contact_attempt", {"method": "call", "outcome": "no_answer"}, NOW + days(1))
    assert "no open step" in refusal.message


def test_a_booking_after_the_due_date_is_accepted_with_a_warning(current):
    case = opened(current)
    step = min((s for s in case.state.steps if s.is_open and s.due_at), key=lambda s: s.due_at)
    if step.kind not in current.events["appointment_booked"].schedules:
        pytest.skip(f"{step.kind} is not booked with appointment_booked")
    late = step.due_at + days(11)
    decision = accept(case, "appointment_booked", {"step": step.kind, "scheduled_for": late.isoformat()},
                      NOW + days(1))  # fmt: skip
    assert [step_id for step_id, _ in decision.schedule] == [step.id]
    (warning,) = [text for text in decision.warnings if "booked for" in text]
    assert f"{late:%Y-%m-%d}" in warning and "11 days after" in warning and f"({step.due_at:%Y-%m-%d})" in warning


def test_a_booking_before_the_due_date_has_no_warning(current):
    case = opened(current)
    step = min((s for s in case.state.steps if s.is_open and s.due_at), key=lambda s: s.due_at)
    if step.kind not in current.events["appointment_booked"].schedules:
        pytest.skip(f"{step.kind} is not booked with appointment_booked")
    decision = accept(case, "appointment_booked", {"step": step.kind, "scheduled_for": (NOW + days(2)).isoformat()},
                      NOW + days(1))  # fmt: skip
    assert not [text for text in decision.warnings if "booked for" in text]
