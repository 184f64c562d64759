"""A mass case against real PostgreSQL: open_case picks masses.yaml by finding type, record_event drives it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import text
from sqlmodel import Session, select

from tests.factories import seed_opening
from tracking.cases.errors import GuardRefused
from tracking.cases.models import Case, CaseEvent, Step
from tracking.cases.opening import open_case
from tracking.cases.recording import record_event
from tracking.pathway.definition import find_pathway


def open_steps(session: Session, case_id: int) -> list[tuple[str, str | None]]:
    rows = session.exec(
        select(Step).where(Step.case_id == case_id, Step.status.in_(("pending", "scheduled"))).order_by(Step.kind)
    )
    return [(step.kind, step.laterality) for step in rows]


def test_a_palpable_mass_case_opens_on_the_masses_pathway_and_owes_a_clinical_followup(session, now):
    opened = open_case(
        session,
        seed_opening(mrn="TEST-MASS-1", finding_type="mass", density="b", palpable=True),
        actor="nav:test",
        now=now,
    )
    case = session.get(Case, opened.case_id)
    masses = find_pathway("masses")
    assert (case.pathway_name, case.pathway_version, case.pathway_hash) == ("masses", 2, masses.content_hash)
    assert case.palpable is True and case.finding_type == "mass"
    assert open_steps(session, case.id) == [
        ("annual_screening", "right"),
        ("diagnostic_mammogram", "left"),
        ("final_assessment", None),
        ("prior_film_request", None),
        ("prior_film_request", None),
        ("targeted_ultrasound", "left"),
    ]
    registered = session.execute(
        text("SELECT content_hash, milestones -> 'diagnostic_imaging' FROM pathway_versions WHERE name = 'masses'")
    ).one()
    assert registered == (masses.content_hash, ["diagnostic_mammogram", "targeted_ultrasound"])

    # G1: no biopsy before the diagnostic workup is complete; nothing is written
    session.commit()  # the caller owns the transaction and rolls back a refusal
    with pytest.raises(GuardRefused) as refused:
        record_event(
            session,
            case.id,
            "biopsy_scheduled",
            {"route": "ultrasound", "scheduled_for": (now + timedelta(days=3)).isoformat()},
            actor="nav:test",
            now=now + timedelta(hours=1),
        )
    assert refused.value.refusal.guard == "G1"
    session.rollback()
    case = session.get(Case, opened.case_id)
    assert case.version == 1

    record_event(
        session,
        case.id,
        "diagnostic_mammogram_result",
        {"birads": "1", "seen_on_mammography": False, "technique": "spot_compression"},
        actor="rad:test",
        now=now + timedelta(days=1),
    )
    result = record_event(
        session,
        case.id,
        "ultrasound_result",
        {"ultrasound_finding": "no_correlate", "birads": "1"},
        actor="rad:test",
        now=now + timedelta(days=2),
    )
    session.refresh(case)
    assert (case.birads, case.disposition, case.status) == ("1", "returned_to_screening", "open")
    followup = session.exec(select(Step).where(Step.case_id == case.id, Step.kind == "clinical_followup")).one()
    assert followup.id in result.created_step_ids
    assert followup.due_at == now + timedelta(days=32)
    assert followup.laterality == "left"

    requests = session.exec(select(Step).where(Step.case_id == case.id, Step.kind == "prior_film_request")).all()
    for facility_id in sorted(step.facility_id for step in requests):
        record_event(
            session, case.id, "prior_films_received", {"facility_id": facility_id, "comparison": "stable"},
            actor="nav:test", now=now + timedelta(days=3),
        )  # fmt: skip
    letters = session.exec(select(Step).where(Step.case_id == case.id, Step.kind == "result_letter")).all()
    for _letter in letters:
        record_event(
            session, case.id, "result_letter_sent", {"density_sentence_included": True},
            actor="nav:test", now=now + timedelta(days=3),
        )  # fmt: skip
    session.refresh(case)
    assert case.status == "open"  # the referring provider's examination is still owed
    assert [kind for kind, _ in open_steps(session, case.id)] == ["annual_screening", "clinical_followup"]

    record_event(
        session,
        case.id,
        "clinical_followup_done",
        {"examined_on": (now + timedelta(days=10)).isoformat(), "examination": "No discrete lump; routine care."},
        actor="nav:test",
        now=now + timedelta(days=11),
    )
    session.refresh(case)
    assert case.status == "closed"
    kinds = [
        event.kind
        for event in session.exec(select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(CaseEvent.id))
    ]
    assert kinds[0] == "case_opened" and kinds[-1] == "clinical_followup_done"
    timeliness = session.execute(
        text("SELECT diagnostic_imaging_at, diagnosis_at FROM case_timeliness WHERE case_id = :id"), {"id": case.id}
    ).one()
    assert timeliness == (now + timedelta(days=1), now + timedelta(days=1))
