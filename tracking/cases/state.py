"""Load what the engine needs about a case, and apply its decisions to the rows."""

from __future__ import annotations

import hashlib
import json
from datetime import date, datetime
from enum import Enum
from typing import Any

from sqlalchemy import text, update
from sqlmodel import Session, col, select

from tracking.cases.errors import IdempotencyKeyReused, InvalidInput
from tracking.cases.models import Case, CaseEvent, PriorFilmRequest, Step
from tracking.pathway.decision import CaseState, Decision, HistoryEntry, StepState
from tracking.pathway.vocabulary import CaseStatus, PriorFilmStatus, StepKind, StepStatus


def jsonable(value: Any) -> Any:
    """Event data as JSON: moments as ISO 8601 text."""
    if isinstance(value, dict):
        return {key: jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(item) for item in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    return value


def clean_idempotency_key(key: str | None) -> str | None:
    """A caller's idempotency key without surrounding whitespace; refuse a blank or over-long one."""
    if key is None:
        return None
    key = key.strip()
    if not key or len(key) > 200:
        raise InvalidInput("an idempotency key must be 1 to 200 characters")
    return key


def lock_idempotency_key(session: Session, key: str) -> None:
    """Serialise callers using the same key until this transaction ends."""
    session.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"), {"key": key})


def event_by_key(session: Session, key: str) -> CaseEvent | None:
    return session.exec(select(CaseEvent).where(CaseEvent.idempotency_key == key)).first()


def request_hash(request: dict[str, Any]) -> str:
    """SHA-256 (hex) of a request's canonical JSON: sorted keys, no spaces, moments as ISO 8601 UTC."""
    canonical = json.dumps(jsonable(request), sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def same_request_or_refuse(existing: CaseEvent, key: str, this_request: str, *, first_use: str) -> None:
    """Refuse a key that first came with another request; rows from before request hashes replay as before."""
    if existing.request_hash is not None and existing.request_hash != this_request:
        raise IdempotencyKeyReused(
            f"idempotency key {key!r} was already used {first_use} with a different request; "
            "nothing was saved: send a new key for a new request",
            key=key,
        )


def case_steps(session: Session, case_id: int) -> list[Step]:
    return list(session.exec(select(Step).where(Step.case_id == case_id).order_by(Step.due_at, Step.id)))


def case_state(session: Session, case: Case) -> CaseState:
    steps = case_steps(session, case.id)
    events = session.exec(select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(CaseEvent.id))
    return CaseState(
        finding_type=case.finding_type,
        laterality=case.laterality,
        density=case.density,
        birads=case.birads,
        status=case.status,
        opened_at=case.opened_at,
        disposition=case.disposition,
        palpable=case.palpable,
        steps=tuple(
            StepState(
                id=step.id,
                kind=step.kind,
                status=step.status,
                due_at=step.due_at,
                target_at=step.target_at,
                laterality=step.laterality,
                facility_id=step.facility_id,
                created_at=step.created_at,
            )
            for step in steps
        ),
        history=tuple(HistoryEntry(event.kind, event.occurred_at, event.payload) for event in events),
    )


def apply_decision(session: Session, case: Case, event: CaseEvent, decision: Decision) -> list[Step]:
    """Write the decision's step, prior-film and case changes; return the steps it created."""
    at = event.occurred_at
    created = [
        Step(
            case_id=case.id,
            kind=new.kind,
            laterality=new.laterality,
            status=new.status,
            due_at=new.due_at,
            target_at=new.target_at,
            facility_id=new.facility_id,
            created_by_event_id=event.id,
            updated_at=event.recorded_at,
        )
        for new in decision.create
    ]
    session.add_all(created)
    changed_ids = {change.step_id for change in decision.complete + decision.cancel + decision.hand_off}
    changed_ids |= {step_id for step_id, _ in decision.schedule} | {change.step_id for change in decision.unschedule}
    steps = {step.id: step for step in case_steps(session, case.id) if step.id in changed_ids}
    for change in decision.complete:
        step = steps[change.step_id]
        step.status, step.completed_at = StepStatus.completed, at
        step.result = {"event_id": event.id, "event": event.kind, **event.payload}
    for change in decision.cancel:
        step = steps[change.step_id]
        step.status, step.result = StepStatus.cancelled, {"event_id": event.id, "reason": change.reason}
    for change in decision.hand_off:
        step = steps[change.step_id]
        step.status, step.result = StepStatus.handed_off, {"event_id": event.id, "reason": change.reason}
    for change in decision.unschedule:
        step = steps[change.step_id]
        step.status, step.scheduled_at = StepStatus.pending, None
    for step_id, moment in decision.schedule:
        step = steps[step_id]
        step.status, step.scheduled_at = StepStatus.scheduled, moment
    for step in steps.values():
        step.updated_at = event.recorded_at  # when it last changed: FHIR's Task.lastModified (migration 0016)
    session.flush()
    _update_prior_film_requests(session, case, event, decision, created, steps)
    if decision.birads:
        case.birads = decision.birads
    if decision.disposition:
        case.disposition = decision.disposition
    elif decision.clear_disposition:
        case.disposition = None
    if decision.status:
        case.status = decision.status
        case.closed_at = event.recorded_at if decision.status == CaseStatus.closed else None
    session.add(case)
    session.flush()
    return created


def touch_case_steps(session: Session, case_id: int, at: datetime) -> None:
    """Mark every step of the case changed at `at`: what their FHIR Tasks show of the case (the navigator
    who owns them) changed, and a client syncing with `_lastUpdated` must see it."""
    session.execute(update(Step).where(col(Step.case_id) == case_id, col(Step.updated_at) < at).values(updated_at=at))


def _update_prior_film_requests(
    session: Session,
    case: Case,
    event: CaseEvent,
    decision: Decision,
    created: list[Step],
    changed: dict[int, Step],
) -> None:
    for step in created:
        if step.kind == StepKind.prior_film_request:
            session.add(
                PriorFilmRequest(
                    case_id=case.id,
                    facility_id=step.facility_id,
                    step_id=step.id,
                    status=PriorFilmStatus.requested,
                    # asked when recorded (the request is queued then), not at a back-dated exam:
                    # chases count from the request, the step's due time from the exam
                    requested_at=event.recorded_at,
                )
            )
    priors = [step for step in changed.values() if step.kind == StepKind.prior_film_request]
    for step in priors:
        request = session.exec(select(PriorFilmRequest).where(PriorFilmRequest.step_id == step.id)).one()
        if step.status == StepStatus.completed:
            request.status, request.received_at = PriorFilmStatus.received, event.occurred_at
            request.comparison = event.payload.get("comparison")
        elif step.status in (StepStatus.cancelled, StepStatus.handed_off):
            request.status = PriorFilmStatus.unobtainable
            request.unobtainable_reason = event.payload.get("reason") or step.result.get("reason")
        session.add(request)
