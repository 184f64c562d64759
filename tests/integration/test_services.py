"""open_case, record_event, case_history and list_overdue against real PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, text
from sqlmodel import Session, select

from tests.factories import STEREOTACTIC_DONE, SUSPICIOUS_MAG, seed_opening
from tracking.audit import AuditEntry
from tracking.cases.errors import GuardRefused, IdempotencyKeyReused, InvalidInput, NotFound, VersionConflict
from tracking.cases.models import Case, CaseEvent, Patient, PriorFilmRequest, Step
from tracking.cases.opening import open_case
from tracking.cases.queries import case_history, list_overdue, worklist
from tracking.cases.recording import record_event


def counts(session: Session) -> dict[str, int]:
    tables = ["cases", "steps", "case_events", "prior_film_requests", "audit_log", "patients"]
    return {table: session.execute(text(f"SELECT count(*) FROM {table}")).scalar_one() for table in tables}


def open_seed(session: Session, now, **overrides):
    return open_case(session, seed_opening(**overrides), actor="nav:test", now=now)


def steps_by_kind(session: Session, case_id: int) -> dict[str, list[Step]]:
    result: dict[str, list[Step]] = {}
    for step in session.exec(select(Step).where(Step.case_id == case_id)):
        result.setdefault(step.kind, []).append(step)
    return result


def test_open_case_persists_immediate_steps_and_prior_film_requests(session, now):
    opened = open_seed(session, now)
    case = session.get(Case, opened.case_id)
    assert (case.status, case.birads, case.version, case.pathway_name, case.pathway_version) == (
        "open",
        "0",
        1,
        "calcifications",
        2,
    )
    steps = steps_by_kind(session, case.id)
    assert sorted((kind, len(items)) for kind, items in steps.items()) == [
        ("annual_screening", 1),
        ("final_assessment", 1),
        ("magnification_views", 1),
        ("prior_film_request", 2),
        ("ultrasound", 1),
    ]
    assert steps["magnification_views"][0].due_at == now + timedelta(days=7)
    assert steps["magnification_views"][0].laterality == "left"
    assert steps["annual_screening"][0].laterality == "right"
    requests = session.exec(select(PriorFilmRequest).where(PriorFilmRequest.case_id == case.id)).all()
    assert sorted(request.status for request in requests) == ["requested", "requested"]
    assert {request.step_id for request in requests} == {step.id for step in steps["prior_film_request"]}
    opened_event = session.exec(select(CaseEvent).where(CaseEvent.case_id == case.id)).one()
    assert opened_event.kind == "case_opened"
    assert all(step.created_by_event_id == opened_event.id for items in steps.values() for step in items)
    audit_rows = session.exec(select(AuditEntry).where(AuditEntry.case_id == case.id)).all()
    assert [row.action for row in audit_rows] == ["case.opened"]


def test_event_payload_and_audit_carry_no_patient_data(session, now):
    opened = open_seed(session, now)
    record_event(
        session, opened.case_id, "magnification_result", SUSPICIOUS_MAG, actor="rad:test", now=now + timedelta(days=2)
    )
    rows = session.execute(text("SELECT payload::text FROM case_events UNION ALL SELECT detail::text FROM audit_log"))
    text_blob = " ".join(row[0] for row in rows)
    for phi in ("Maren", "Testcase", "TEST-SEED-1", "1968"):
        assert phi not in text_blob


def test_record_event_applies_the_decision_in_one_go(session, now):
    opened = open_seed(session, now)
    result = record_event(
        session, opened.case_id, "magnification_result", SUSPICIOUS_MAG, actor="rad:test", now=now + timedelta(days=2)
    )
    case = session.get(Case, opened.case_id)
    assert (case.birads, case.version, result.case_version) == ("4B", 2, 2)
    steps = steps_by_kind(session, case.id)
    assert steps["magnification_views"][0].status == "completed"
    assert steps["magnification_views"][0].result["birads"] == "4B"
    assert steps["final_assessment"][0].status == "completed"
    biopsy = steps["stereotactic_biopsy"][0]
    assert biopsy.status == "pending" and biopsy.due_at == now + timedelta(days=9)
    assert steps["result_letter"][0].due_at == now + timedelta(days=9)
    assert sorted(result.created_step_ids) == sorted([biopsy.id, steps["result_letter"][0].id])


def test_refused_event_writes_nothing(session, now):
    opened = open_seed(session, now)
    session.commit()  # the case is saved; the refused event's transaction must add nothing to it
    before = counts(session)
    with pytest.raises(GuardRefused) as refused:
        record_event(
            session,
            opened.case_id,
            "biopsy_scheduled",
            {"procedure": "stereotactic", "scheduled_for": (now + timedelta(days=3)).isoformat()},
            actor="nav:test",
            now=now + timedelta(days=1),
        )
    assert refused.value.refusal.guard == "G1"
    assert "Magnification views of the left breast are not done" in str(refused.value)
    session.rollback()  # the caller owns the transaction and rolls back on refusal
    assert counts(session) == before
    assert session.get(Case, opened.case_id).version == 1


def test_repeated_idempotency_key_returns_first_result(session, now):
    opened = open_seed(session, now)
    first = record_event(
        session,
        opened.case_id,
        "magnification_result",
        SUSPICIOUS_MAG,
        actor="rad:test",
        now=now,
        idempotency_key="k-1",
    )
    before = counts(session)
    again = record_event(
        session,
        opened.case_id,
        "magnification_result",
        SUSPICIOUS_MAG,
        actor="rad:test",
        now=now,
        idempotency_key="k-1",
    )
    assert again.replayed and not first.replayed
    assert (again.event_id, sorted(again.created_step_ids)) == (first.event_id, sorted(first.created_step_ids))
    assert counts(session) == before


def test_idempotency_key_reused_for_another_event_is_refused(session, now):
    opened = open_seed(session, now)
    record_event(
        session,
        opened.case_id,
        "magnification_result",
        SUSPICIOUS_MAG,
        actor="rad:test",
        now=now,
        idempotency_key="k-2",
    )
    with pytest.raises(IdempotencyKeyReused):
        record_event(
            session,
            opened.case_id,
            "ultrasound_result",
            {"findings": "no mass"},
            actor="rad:test",
            now=now,
            idempotency_key="k-2",
        )


def test_open_case_idempotency_replays(session, now):
    first = open_case(session, seed_opening(), actor="nav", now=now, idempotency_key="open-1")
    again = open_case(session, seed_opening(), actor="nav", now=now, idempotency_key="open-1")
    assert again.replayed and again.case_id == first.case_id and again.step_ids == first.step_ids
    assert session.exec(select(func.count()).select_from(Case)).one() == 1


def test_stale_version_is_a_conflict_not_a_lost_update(session, now):
    opened = open_seed(session, now)
    record_event(session, opened.case_id, "ultrasound_result", {"findings": "no mass"}, actor="a", now=now)
    with pytest.raises(VersionConflict, match="your version 1, now 2"):
        record_event(
            session, opened.case_id, "magnification_result", SUSPICIOUS_MAG, actor="b", now=now, expected_version=1
        )


def test_same_mrn_with_other_details_is_refused(session, now):
    open_seed(session, now)
    with pytest.raises(InvalidInput, match="MRN already belongs"):
        open_seed(session, now, given_name="Someone")
    second = open_seed(session, now, laterality="right")  # same patient, second finding
    assert session.exec(select(func.count()).select_from(Patient)).one() == 1
    assert session.get(Case, second.case_id).laterality == "right"


def test_unknown_facility_without_contact_is_refused(session, now):
    with pytest.raises(InvalidInput, match="'Nowhere Imaging' is not known"):
        open_seed(session, now, facilities=[{"name": "Nowhere Imaging"}])


def test_unknown_case_is_not_found(session, now):
    with pytest.raises(NotFound, match="case 999999 does not exist"):
        record_event(session, 999999, "ultrasound_result", {"findings": "x"}, actor="a", now=now)
    with pytest.raises(NotFound):
        case_history(session, 999999, actor="a", now=now)


def test_full_biopsy_branch_closes_after_surgical_consultation(session, now):
    opened = open_seed(session, now, facilities=[], density="b")
    case_id = opened.case_id
    day = lambda n: now + timedelta(days=n)  # noqa: E731
    record_event(session, case_id, "magnification_result", SUSPICIOUS_MAG, actor="rad", now=day(2))
    record_event(session, case_id, "result_letter_sent", {"density_sentence_included": True}, actor="nav", now=day(3))
    record_event(session, case_id, "biopsy_performed", STEREOTACTIC_DONE, actor="rad", now=day(6))
    record_event(
        session,
        case_id,
        "pathology_result",
        {"category": "malignant", "diagnosis": "dcis", "concordant": True},
        actor="path",
        now=day(9),
    )
    case = session.get(Case, case_id)
    assert (case.birads, case.status) == ("6", "open")
    result = record_event(
        session, case_id, "surgical_consultation_done", {"plan": "lumpectomy"}, actor="nav", now=day(20)
    )
    session.refresh(case)
    assert (case.status, case.disposition, result.outcome["status"]) == ("closed", "referred_to_surgery", "closed")
    assert case.closed_at == day(20)
    statuses = {step.kind: step.status for step in session.exec(select(Step).where(Step.case_id == case_id))}
    assert statuses["annual_screening"] == "handed_off"
    with pytest.raises(GuardRefused, match="closed"):
        record_event(session, case_id, "assessment", {"birads": "2"}, actor="rad", now=day(21))
    record_event(session, case_id, "screening_done", {"birads": "1"}, actor="nav", now=day(300))  # still tracked


def test_prior_films_received_and_unobtainable_update_requests(session, now):
    opened = open_seed(session, now)
    requests = session.exec(select(PriorFilmRequest).where(PriorFilmRequest.case_id == opened.case_id)).all()
    first, second = sorted(requests, key=lambda request: request.facility_id)
    record_event(
        session,
        opened.case_id,
        "prior_films_received",
        {"facility_id": first.facility_id, "comparison": "stable"},
        actor="nav",
        now=now + timedelta(days=5),
    )
    record_event(
        session,
        opened.case_id,
        "prior_films_unobtainable",
        {"facility_id": second.facility_id, "reason": "Archive destroyed in flood"},
        actor="nav",
        now=now + timedelta(days=9),
    )
    session.refresh(first)
    session.refresh(second)
    assert (first.status, first.comparison, first.received_at) == ("received", "stable", now + timedelta(days=5))
    assert (second.status, second.unobtainable_reason) == ("unobtainable", "Archive destroyed in flood")


def test_case_history_is_audited_as_a_view(session, now):
    opened = open_seed(session, now)
    history = case_history(session, opened.case_id, actor="ops:viewer", now=now)
    assert history.patient.mrn == "TEST-SEED-1"
    assert len(history.prior_film_requests) == 2 and [event.kind for event in history.events] == ["case_opened"]
    views = session.exec(
        select(AuditEntry).where(AuditEntry.case_id == opened.case_id, AuditEntry.action == "case.viewed")
    ).all()
    assert [(row.actor, row.at) for row in views] == [("ops:viewer", now)]


def test_list_overdue_filters_and_orders(session, now):
    first = open_seed(session, now - timedelta(days=20))
    second = open_seed(session, now - timedelta(days=9), mrn="TEST-SEED-2", facilities=[])
    rows = list_overdue(session, now, actor="ops")
    keys = [(row.case_id, row.kind) for row in rows]
    assert keys == [
        (first.case_id, "magnification_views"),  # 13 days late
        (first.case_id, "ultrasound"),  # 6 days late
        (second.case_id, "magnification_views"),  # 2 days late
    ]
    assert [row.days_overdue for row in rows] == [13, 6, 2]
    assert [(row.case_id, row.kind) for row in list_overdue(session, now, actor="ops", older_than_days=5)] == keys[:2]
    only_us = list_overdue(session, now, actor="ops", step_kind="ultrasound")
    assert [(row.case_id, row.kind) for row in only_us] == [(first.case_id, "ultrasound")]
    with pytest.raises(InvalidInput, match="unknown step kind 'biopsy'"):
        list_overdue(session, now, actor="ops", step_kind="biopsy")
    assert list_overdue(session, now - timedelta(days=30), actor="ops") == []


def test_worklist_puts_overdue_first_then_due_soon(session, now):
    open_seed(session, now - timedelta(days=10))
    rows, total = worklist(session, now, actor="nav", due_within_days=30)
    assert total == len(rows)
    assert rows[0].kind == "magnification_views" and rows[0].is_overdue
    assert [row.due_at for row in rows] == sorted(row.due_at for row in rows)
    assert not rows[-1].is_overdue
    assert all(row.kind != "annual_screening" for row in rows)  # due in a year: beyond the horizon
