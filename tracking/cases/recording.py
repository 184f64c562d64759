"""record_event: validate an event against the pathway, then write it and its effects."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlmodel import Session, select

from tracking.cases.applying import EventRow, apply_decision
from tracking.cases.errors import GuardRefused, IdempotencyKeyReused, InvalidInput, NotFound, VersionConflict
from tracking.cases.models import Case, CaseEvent, Step
from tracking.cases.pathway_versions import check_case_pathway
from tracking.cases.state import (
    case_state,
    clean_idempotency_key,
    event_by_key,
    jsonable,
    lock_idempotency_key,
    request_hash,
    same_request_or_refuse,
)
from tracking.pathway.decision import NewEvent, Refusal
from tracking.pathway.definition import Pathway, find_pathway
from tracking.pathway.engine import decide
from tracking.pathway.fields import FieldRefused, normalise_event_data, parse_moment


@dataclass
class RecordedEvent:
    case_id: int
    event_id: int
    case_version: int
    created_step_ids: list[int] = field(default_factory=list)
    outcome: dict[str, Any] = field(default_factory=dict)
    replayed: bool = False

    @property
    def warnings(self) -> list[str]:
        return list(self.outcome.get("warnings", []))


def record_event(
    session: Session,
    case_id: int,
    kind: str,
    data: dict[str, Any],
    *,
    actor: str,
    now: datetime,
    occurred_at: datetime | str | None = None,
    idempotency_key: str | None = None,
    expected_version: int | None = None,
) -> RecordedEvent:
    """Record one event on a case in the caller's transaction; refuse without writing anything.

    A repeated idempotency key with the same request (see `event_request_hash`) returns the first
    result; with a different request it raises IdempotencyKeyReused. With `expected_version`, a case
    changed since the caller read it raises VersionConflict instead of overwriting.
    """
    idempotency_key = clean_idempotency_key(idempotency_key)
    if idempotency_key is not None:
        lock_idempotency_key(session, idempotency_key)
        existing = event_by_key(session, idempotency_key)
        if existing is not None:
            first_use = f"for a {existing.kind} event on case {existing.case_id}"
            if existing.request_hash is None and (existing.case_id != case_id or existing.kind != kind):
                raise IdempotencyKeyReused(
                    f"idempotency key {idempotency_key!r} was already used {first_use}; nothing was saved: "
                    "send a new key for a new request",
                    key=idempotency_key,
                )
            requested = session.get(Case, case_id)
            pathway = find_pathway(requested.pathway_name, requested.pathway_version) if requested else None
            this_request = event_request_hash(pathway, case_id, kind, data, occurred_at)
            same_request_or_refuse(existing, idempotency_key, this_request, first_use=first_use)
            return _replay(session, existing)
    # One statement locks and reads the case. populate_existing: a Case the caller loaded earlier in this
    # session must be re-read under the lock, or a stale version would pass the expected-version check
    # (a lost update). Its steps and history are read by the next statement, whose snapshot is taken
    # once the lock is held: read in the same statement they could predate a writer we waited for.
    locked = select(Case).where(Case.id == case_id).with_for_update().execution_options(populate_existing=True)
    case = session.exec(locked).first()
    if case is None:
        raise NotFound(f"case {case_id} does not exist")
    if expected_version is not None and expected_version != case.version:
        raise VersionConflict(
            f"case {case_id} changed since you read it (your version {expected_version}, now {case.version}); "
            "reload it and try again"
        )
    try:
        moment = now if occurred_at is None else parse_moment(occurred_at, "occurred_at")
    except FieldRefused as refused:
        raise InvalidInput(str(refused.refusal)) from None
    # An occurred_at past now or before the case was opened is refused by the pathway engine (exit 4, HTTP 422).
    pathway = find_pathway(case.pathway_name, case.pathway_version)
    pathway_hash = check_case_pathway(session, case, pathway, now)
    this_request = event_request_hash(pathway, case_id, kind, data, occurred_at) if idempotency_key else None
    state = case_state(session, case)
    decision = decide(pathway, state, NewEvent(kind, data, moment), now)
    if isinstance(decision, Refusal):
        raise GuardRefused(decision)
    outcome = jsonable(decision.summary())
    applied = apply_decision(
        session, case, state.steps,
        EventRow(
            kind=kind, payload=jsonable(decision.data), outcome=outcome, actor=actor,
            occurred_at=moment, recorded_at=now, idempotency_key=idempotency_key or f"auto:{uuid.uuid4()}",
            request_hash=this_request,
        ),
        decision, version=case.version + 1, pathway_hash=pathway_hash, run_reason=kind,
        audit_action="event.recorded", audit_detail={"kind": kind}, now=now,
    )  # fmt: skip
    return RecordedEvent(case.id, applied.event_id, case.version, applied.created_step_ids, outcome)


def event_request_hash(
    pathway: Pathway | None, case_id: int, kind: str, data: Any, occurred_at: datetime | str | None
) -> str:
    """What makes two events "the same request" under one idempotency key.

    The case id, the event kind, the data as the pathway validates it (so "4b" and "4B", or " x "
    and "x", are the same; data the pathway refuses counts as given) and occurred_at as the caller
    gave it: absent stays absent (a retry at another moment still replays), a given moment counts
    as that instant in UTC whatever its notation. Who records it and when it is received do not
    count. The API, the CLI (--data or --file) and the web form (its one-time token) therefore
    replay a repeated request, and any change of case, kind, a field value or occurred_at is refused.
    """
    rule = pathway.events.get(kind) if pathway is not None else None
    try:
        clean = normalise_event_data(pathway, rule, data) if rule is not None else data
    except FieldRefused:
        clean = data
    moment: Any = occurred_at
    if occurred_at is not None:
        try:
            moment = parse_moment(occurred_at, "occurred_at")
        except FieldRefused:
            moment = str(occurred_at)
    return request_hash(
        {"request": "record_event", "case_id": case_id, "kind": kind, "data": clean, "occurred_at": moment}
    )


def _replay(session: Session, event: CaseEvent) -> RecordedEvent:
    step_ids = session.exec(select(Step.id).where(Step.created_by_event_id == event.id).order_by(Step.id))
    version = session.exec(select(Case.version).where(Case.id == event.case_id)).one()
    return RecordedEvent(event.case_id, event.id, version, list(step_ids), event.outcome, replayed=True)
