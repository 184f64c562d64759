"""Load what the engine needs about a case; idempotency keys and request hashes.

A decision is written by tracking/cases/applying.py."""

from __future__ import annotations

import hashlib
import json
from datetime import date, datetime
from enum import Enum
from typing import Any

from sqlalchemy import text, update
from sqlmodel import Session, col, select

from tracking.cases.errors import IdempotencyKeyReused, InvalidInput
from tracking.cases.models import Case, CaseEvent, Step
from tracking.pathway.decision import CaseState, HistoryEntry, StepState


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


# A case's steps and its history in one round trip: steps in due order, events in the order recorded.
STEPS_AND_HISTORY = text(
    """
    SELECT false AS event, id, kind, status, due_at, target_at, laterality, facility_id, created_at,
           CAST(NULL AS jsonb) AS payload
    FROM steps WHERE case_id = :case_id
    UNION ALL
    SELECT true, id, kind, NULL, occurred_at, NULL, NULL, NULL, NULL, payload
    FROM case_events WHERE case_id = :case_id
    """
)


def case_state(session: Session, case: Case) -> CaseState:
    """What the engine needs about `case`: its facts, steps and history (one statement)."""
    rows = session.execute(STEPS_AND_HISTORY, {"case_id": case.id}).all()
    steps = sorted((row for row in rows if not row.event), key=lambda row: (row.due_at, row.id))
    events = sorted((row for row in rows if row.event), key=lambda row: row.id)
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
        history=tuple(HistoryEntry(event.kind, event.due_at, event.payload) for event in events),
    )


def touch_case_steps(session: Session, case_id: int, at: datetime) -> None:
    """Mark every step of the case changed at `at`: what their FHIR Tasks show of the case (the navigator
    who owns them) changed, and a client syncing with `_lastUpdated` must see it."""
    session.execute(update(Step).where(col(Step.case_id) == case_id, col(Step.updated_at) < at).values(updated_at=at))
