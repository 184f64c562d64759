"""The HL7 inbox: messages the interface would not apply by itself, each a prefilled proposal that a
navigator or radiologist confirms (it is then recorded through the same services as by hand, as
that person, under the pathway's roles and guards) or dismisses with a reason.

Services flush, never commit. Audit rows carry ids only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlmodel import Session, col, select

from tracking.alerts.corrected_results import resolve_alert
from tracking.audit import audit, audit_insert_from
from tracking.cases.errors import InvalidInput, NotFound
from tracking.cases.models import Case, Step
from tracking.cases.opening import CaseOpening, open_case
from tracking.cases.recording import record_event
from tracking.cases.state import jsonable
from tracking.hl7.inbox_models import HL7InboxItem
from tracking.hl7.matching import link_accession, open_matches
from tracking.hl7.patient_records import Identity, Merge, merge_patients, update_identity
from tracking.pathway.definition import find_pathway
from tracking.pathway.fields import bounded_text
from tracking.pathway.vocabulary import HL7InboxKind, HL7InboxStatus
from tracking.patients.contact_details import ContactDetails, update_contact_details
from tracking.users.roles import HL7_INBOX, NAVIGATE, OPEN_CASES, RECORD_EVENTS, may_record

REASON_MAX = 1000
DISMISS_REASON_MAX = 500
# Who may confirm each kind of proposal (a recorded event: also the pathway's `recorded_by`).
CONFIRMERS = {
    HL7InboxKind.record_event: RECORD_EVENTS,
    HL7InboxKind.open_case: OPEN_CASES,
    HL7InboxKind.link_accession: RECORD_EVENTS,
    HL7InboxKind.update_contact_details: NAVIGATE,
    HL7InboxKind.update_demographics: NAVIGATE,
    HL7InboxKind.merge_patients: NAVIGATE,
    HL7InboxKind.review: HL7_INBOX,
}


@dataclass(frozen=True)
class Proposal:
    """What the interpreter proposes for one message."""

    kind: HL7InboxKind
    reason: str
    case_id: int | None = None
    patient_id: int | None = None
    event_kind: str | None = None
    payload: dict[str, Any] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)
    occurred_at: datetime | None = None
    alert_id: int | None = None


@dataclass(frozen=True)
class Person:
    """Who confirms or dismisses: a user name and role (the page's signed-in user, the CLI's --as)."""

    username: str
    role: str


@dataclass(frozen=True)
class Decided:
    item_id: int
    status: str
    case_id: int | None = None
    event_id: int | None = None
    warnings: list[str] = field(default_factory=list)


# The item and its audit row in one statement (the listener's rate depends on it); ids only in the audit.
QUEUE_ITEM = text(
    f"""
    WITH item AS (
        INSERT INTO hl7_inbox_items (message_id, case_id, patient_id, kind, reason, event_kind, payload, details,
                                     occurred_at, status, created_at, alert_id)
        VALUES (:message_id, :case_id, :patient_id, :kind, :reason, :event_kind, CAST(:payload AS jsonb),
                CAST(:details AS jsonb), :occurred_at, :status, :now, :alert_id)
        RETURNING id, case_id, jsonb_build_object('item_id', id, 'message_id', message_id, 'kind', kind) AS detail
    ), logged AS ({audit_insert_from("item")})
    SELECT id FROM item"""
)


def queue_item(session: Session, proposal: Proposal, *, message_id: int, actor: str, now: datetime) -> int:
    """Keep a proposal in the inbox, in the caller's transaction, audited with ids; the item's id."""
    session.flush()  # what the caller added first (an alert the item points at)
    return (
        session.connection()
        .execute(
            QUEUE_ITEM,
            {
                "message_id": message_id,
                "case_id": proposal.case_id,
                "patient_id": proposal.patient_id,
                "kind": proposal.kind.value,
                "reason": (proposal.reason.strip() or "needs review")[:REASON_MAX],
                "event_kind": proposal.event_kind if proposal.kind == HL7InboxKind.record_event else None,
                "payload": json.dumps(jsonable(proposal.payload)),
                "details": json.dumps(jsonable(proposal.details)),
                "occurred_at": proposal.occurred_at,
                "status": HL7InboxStatus.open.value,
                "now": now,
                "alert_id": proposal.alert_id,
                "audit_actor": actor,
                "audit_action": "hl7.inbox_queued",
                "audit_detail": "{}",
            },
        )
        .scalar_one()
    )


def list_items(
    session: Session, *, status: HL7InboxStatus | None = HL7InboxStatus.open, limit: int = 200
) -> list[HL7InboxItem]:
    """Open items oldest first (a work queue); any status: newest first."""
    query = select(HL7InboxItem)
    if status is not None:
        query = query.where(HL7InboxItem.status == status)
    order = (
        (HL7InboxItem.created_at, HL7InboxItem.id)
        if status == HL7InboxStatus.open
        else (col(HL7InboxItem.created_at).desc(), col(HL7InboxItem.id).desc())
    )
    return list(session.exec(query.order_by(*order).limit(limit)))


def item_as_dict(item: HL7InboxItem) -> dict[str, Any]:
    return {
        "item_id": item.id,
        "message_id": item.message_id,
        "case_id": item.case_id,
        "patient_id": item.patient_id,
        "kind": item.kind,
        "reason": item.reason,
        "event_kind": item.event_kind,
        "payload": item.payload,
        "occurred_at": item.occurred_at.isoformat() if item.occurred_at else None,
        "details": item.details,
        "status": item.status,
        "created_at": item.created_at.isoformat(),
        "decided_by": item.decided_by,
        "decided_at": item.decided_at.isoformat() if item.decided_at else None,
        "dismiss_reason": item.dismiss_reason,
        "resulting_event_id": item.resulting_event_id,
        "alert_id": item.alert_id,
    }


def may_confirm(person: Person, item: HL7InboxItem, session: Session, case_id: int | None = None) -> str | None:
    """Why `person` may not confirm the item (None: they may)."""
    kind = HL7InboxKind(item.kind)
    if person.role not in CONFIRMERS[kind]:
        allowed = " or ".join(sorted(role.replace("_", " ") for role in CONFIRMERS[kind]))
        return f"only a {allowed} may confirm this ({kind.value.replace('_', ' ')}); you are {_role(person)}"
    if kind == HL7InboxKind.record_event and item.event_kind:
        case = session.get(Case, case_id or item.case_id) if (case_id or item.case_id) else None
        if case is not None:
            pathway = find_pathway(case.pathway_name, case.pathway_version)
            rule = pathway.events.get(item.event_kind)
            if rule is not None and not may_record(person.role, item.event_kind, pathway):
                return f"{_role(person)} may not record {rule.title.lower()} (the pathway says who may)"
    return None


def _role(person: Person) -> str:
    return f"{person.username} ({person.role.replace('_', ' ')})"


def _open_item(session: Session, item_id: int) -> HL7InboxItem:
    query = select(HL7InboxItem).where(HL7InboxItem.id == item_id).with_for_update()
    item = session.exec(query.execution_options(populate_existing=True)).first()
    if item is None:
        raise NotFound(f"HL7 inbox item {item_id} does not exist")
    if item.status != HL7InboxStatus.open:
        raise InvalidInput(f"HL7 inbox item {item_id} was already {item.status} by {item.decided_by}")
    return item


def confirm_item(
    session: Session,
    item_id: int,
    *,
    person: Person,
    now: datetime,
    payload: dict[str, Any] | None = None,
    case_id: int | None = None,
    occurred_at: datetime | None = None,
) -> Decided:
    """Do what the item proposes, as `person`, with `payload` (default: as prefilled); refuse without writing.

    A recorded event goes through record_event (the pathway's roles, fields and guards apply); a
    proposed case through open_case; contact details, identity and merges through their services.
    """
    item = _open_item(session, item_id)
    refused = may_confirm(person, item, session, case_id)
    if refused is not None:
        raise InvalidInput(refused)
    data = dict(item.payload if payload is None else payload)
    kind = HL7InboxKind(item.kind)
    event_id: int | None = None
    decided_case = item.case_id
    warnings: list[str] = []
    if kind == HL7InboxKind.record_event:
        case = _case_for(session, item, case_id)
        recorded = record_event(
            session,
            case.id,
            str(item.event_kind),
            data,
            actor=person.username,
            now=now,
            occurred_at=occurred_at or item.occurred_at,
            idempotency_key=f"hl7-inbox:{item.id}",
        )
        event_id, decided_case, warnings = recorded.event_id, case.id, recorded.warnings
        _link_if_free(session, item, person, now)
    elif kind == HL7InboxKind.open_case:
        if not data.get("finding_type"):
            raise InvalidInput("choose the finding type (it picks the pathway) before opening the case")
        opened = open_case(
            session,
            CaseOpening.model_validate(data),
            actor=person.username,
            now=now,
            idempotency_key=f"hl7-inbox:{item.id}",
        )
        event_id, decided_case, warnings = opened.event_id, opened.case_id, list(opened.warnings)
        _link_new_case(session, item, opened.case_id, person, now)
    elif kind == HL7InboxKind.link_accession:
        step_id = _whole_number(data.get("step_id"), "step_id")
        step = _step_of_patient(session, item, step_id)
        link_accession(
            session,
            step.id,
            str(item.details.get("accession") or ""),
            actor=person.username,
            now=now,
            message_id=item.message_id,
        )
        decided_case = step.case_id
    elif kind == HL7InboxKind.update_contact_details:
        update_contact_details(
            session,
            _patient_id(item),
            ContactDetails.model_validate(data),
            actor=person.username,
            now=now,
            case_id=item.case_id,
        )
    elif kind == HL7InboxKind.update_demographics:
        update_identity(
            session,
            _patient_id(item),
            Identity.model_validate(data),
            actor=person.username,
            now=now,
            case_id=item.case_id,
        )
    elif kind == HL7InboxKind.merge_patients:
        merge_patients(session, Merge.model_validate(data), actor=person.username, now=now)
    item.status, item.decided_by, item.decided_at = HL7InboxStatus.confirmed, person.username, now
    item.resulting_event_id, item.case_id = event_id, decided_case
    if payload is not None:
        item.details = {**item.details, "confirmed_payload": jsonable(data)}
    session.add(item)
    if item.alert_id is not None:
        resolve_alert(session, item.alert_id, now=now)
    session.flush()
    audit(
        session,
        actor=person.username,
        action="hl7.inbox_confirmed",
        at=now,
        case_id=decided_case,
        item_id=item.id,
        message_id=item.message_id,
        event_id=event_id,
    )
    return Decided(item.id, item.status, decided_case, event_id, warnings)


def dismiss_item(session: Session, item_id: int, *, person: Person, reason: str, now: datetime) -> Decided:
    """Close the item without doing what it proposes; the reason is kept with who and when."""
    if person.role not in HL7_INBOX:
        raise InvalidInput(f"only a navigator or radiologist may dismiss an HL7 inbox item; you are {_role(person)}")
    reason = bounded_text((reason or "").strip(), what="the reason", max_length=DISMISS_REASON_MAX)
    if len(reason) < 3:
        raise InvalidInput("dismissing an HL7 inbox item needs a reason (at least 3 characters)")
    item = _open_item(session, item_id)
    item.status, item.decided_by, item.decided_at, item.dismiss_reason = (
        HL7InboxStatus.dismissed,
        person.username,
        now,
        reason,
    )
    session.add(item)
    if item.alert_id is not None:
        resolve_alert(session, item.alert_id, now=now)
    session.flush()
    audit(
        session,
        actor=person.username,
        action="hl7.inbox_dismissed",
        at=now,
        case_id=item.case_id,
        item_id=item.id,
        message_id=item.message_id,
    )
    return Decided(item.id, item.status, item.case_id)


# --- helpers -------------------------------------------------------------------------------------


def _whole_number(value: Any, name: str) -> int:
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit() and len(value.strip()) < 10:
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 2**31 - 1:
        raise InvalidInput(f"{name} must be a step number; got {str(value)[:40]!r}")
    return value


def _case_for(session: Session, item: HL7InboxItem, case_id: int | None) -> Case:
    wanted = case_id or item.case_id
    if wanted is None:
        raise InvalidInput("choose the case to record this on (case id): the message matched none by itself")
    case = session.get(Case, wanted)
    if case is None:
        raise NotFound(f"case {wanted} does not exist")
    if item.patient_id is not None and case.patient_id != item.patient_id:
        raise InvalidInput(f"case {wanted} belongs to another patient than the one the message names")
    return case


def _patient_id(item: HL7InboxItem) -> int:
    if item.patient_id is None:
        raise InvalidInput("this item names no patient known here; dismiss it")
    return item.patient_id


def _step_of_patient(session: Session, item: HL7InboxItem, step_id: int) -> Step:
    step = session.get(Step, step_id)
    case = session.get(Case, step.case_id) if step is not None else None
    if step is None or case is None:
        raise NotFound(f"step {step_id} does not exist")
    if item.patient_id is not None and case.patient_id != item.patient_id:
        raise InvalidInput(f"step {step_id} is on another patient's case")
    return step


def _link_if_free(session: Session, item: HL7InboxItem, person: Person, now: datetime) -> None:
    """After a confirmed result, the order's accession number on its step, if the step has none yet."""
    accession, step_id = item.details.get("accession"), item.details.get("step_id")
    if not accession or not isinstance(step_id, int):
        return
    step = session.get(Step, step_id)
    if step is not None and not step.accession_number and len(str(accession)) <= 64:
        link_accession(session, step_id, str(accession), actor=person.username, now=now, message_id=item.message_id)


def _link_new_case(session: Session, item: HL7InboxItem, case_id: int, person: Person, now: datetime) -> None:
    """A case opened from an order: the order's accession number on the one new step it is for."""
    accession, kinds = item.details.get("accession"), item.details.get("step_kinds") or []
    case = session.get(Case, case_id)
    if not accession or not kinds or case is None or len(str(accession)) > 64:
        return
    found = [
        match
        for match in open_matches(session, case.patient_id, tuple(kinds), item.details.get("side"))
        if match.case.id == case_id
    ]
    if len(found) == 1 and not found[0].step.accession_number:
        link_accession(
            session, found[0].step.id, str(accession), actor=person.username, now=now, message_id=item.message_id
        )
