"""Write an event and everything its decision does, in one statement (one round trip).

The event, the steps it creates (their ids drawn from the sequence in the order the engine listed
them), the steps it completes, cancels, hands off, books or un-books, the case's new facts and
version, the prior-film requests its steps start or end, the run request, the audit row and the
navigators' notices (a result letter due, the event's warnings) are data-modifying CTEs of one
INSERT ... RETURNING. A film request's first message needs its request row to exist, so it is
queued by the next statement (request_prior_films), and only when the decision started one.

The ORM objects the session already holds for the case are brought in line: the Case gets its new
values as committed ones; its steps and film requests are expired and load again when read.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import inspect, text
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import Session

from tracking.audit import audit_insert_from
from tracking.base import utcnow
from tracking.cases.models import Case, PriorFilmRequest, Step
from tracking.cases.state import jsonable
from tracking.notify.outbox import insert_from
from tracking.pathway.decision import Decision, StepState
from tracking.pathway.vocabulary import CaseStatus, PriorFilmStatus, StepKind, StepStatus
from tracking.reminders.priors import request_prior_films
from tracking.runs.outside_work import decision_notices
from tracking.runs.service import case_run_insert_from
from tracking.settings import Settings, get_settings


@dataclass(frozen=True)
class EventRow:
    """The case_events row to write (its id comes back from the statement)."""

    kind: str
    payload: dict[str, Any]
    outcome: dict[str, Any]
    actor: str
    occurred_at: datetime
    recorded_at: datetime
    idempotency_key: str
    request_hash: str | None = None


@dataclass(frozen=True)
class Applied:
    event_id: int
    created_step_ids: list[int]


AUDITED = "(SELECT :case_id AS case_id, jsonb_build_object('event_id', ev.id) AS detail FROM ev)"
WRITE = text(
    f"""
    WITH ev AS (
        INSERT INTO case_events (case_id, kind, payload, outcome, actor, occurred_at, recorded_at, idempotency_key,
                                 request_hash)
        VALUES (:case_id, :kind, CAST(:payload AS jsonb), CAST(:outcome AS jsonb), :actor, :occurred_at,
                :recorded_at, :idempotency_key, :request_hash)
        RETURNING id
    ),
    wanted AS MATERIALIZED (
        SELECT nextval(pg_get_serial_sequence('steps', 'id')) AS id, w.*
        FROM (SELECT * FROM jsonb_to_recordset(CAST(:new_steps AS jsonb))
                  AS x(n int, kind text, laterality text, status text, due_at timestamptz, target_at timestamptz,
                       facility_id int)
              ORDER BY n OFFSET 0) w
    ),
    new_steps AS (
        INSERT INTO steps (id, case_id, kind, laterality, status, due_at, target_at, facility_id, result,
                           created_by_event_id, created_at, updated_at)
        SELECT w.id, :case_id, w.kind, w.laterality, w.status, w.due_at, w.target_at, w.facility_id, '{{}}',
               ev.id, :created_at, :recorded_at
        FROM wanted w CROSS JOIN ev
        RETURNING id
    ),
    changes AS (
        SELECT * FROM jsonb_to_recordset(CAST(:changes AS jsonb))
            AS c(id int, status text, completed_at timestamptz, set_completed boolean, scheduled_at timestamptz,
                 set_scheduled boolean, result jsonb)
    ),
    changed AS (  -- updated_at: when a step last changed, FHIR's Task.lastModified (migration 0012)
        UPDATE steps s
        SET status = c.status,
            completed_at = CASE WHEN c.set_completed THEN c.completed_at ELSE s.completed_at END,
            scheduled_at = CASE WHEN c.set_scheduled THEN c.scheduled_at ELSE s.scheduled_at END,
            result = CASE WHEN c.result IS NULL THEN s.result
                          ELSE jsonb_build_object('event_id', ev.id) || c.result END,
            updated_at = :recorded_at
        FROM changes c CROSS JOIN ev
        WHERE s.id = c.id AND s.case_id = :case_id
        RETURNING s.id
    ),
    case_row AS (
        UPDATE cases
        SET version = :version, birads = :birads, disposition = :disposition, status = :status,
            closed_at = :closed_at, pathway_hash = :pathway_hash
        WHERE id = :case_id
        RETURNING id
    ),
    new_requests AS (
        INSERT INTO prior_film_requests (case_id, facility_id, step_id, status, requested_at, chase_count)
        SELECT :case_id, w.facility_id, w.id, 'requested', :recorded_at, 0
        FROM wanted w WHERE w.kind = 'prior_film_request'
        RETURNING id
    ),
    request_changes AS (
        SELECT * FROM jsonb_to_recordset(CAST(:requests AS jsonb))
            AS q(step_id int, status text, received_at timestamptz, comparison text, unobtainable_reason text)
    ),
    changed_requests AS (
        UPDATE prior_film_requests p
        SET status = q.status,
            received_at = CASE WHEN q.status = 'received' THEN q.received_at ELSE p.received_at END,
            comparison = CASE WHEN q.status = 'received' THEN q.comparison ELSE p.comparison END,
            unobtainable_reason = CASE WHEN q.status = 'unobtainable' THEN q.unobtainable_reason
                                       ELSE p.unobtainable_reason END
        FROM request_changes q
        WHERE p.step_id = q.step_id AND p.case_id = :case_id
        RETURNING p.id
    ),
    run AS ({case_run_insert_from("(SELECT :case_id AS case_id, ev.id AS event_id FROM ev)")}
    ),
    audited AS ({audit_insert_from(AUDITED)}
    ),
    notices AS (
        SELECT * FROM jsonb_to_recordset(CAST(:notices AS jsonb))
            AS m(kind text, channel text, address text, step_n int, payload jsonb, key text)
    ),
    messages AS (
        SELECT m.kind, m.channel, m.address, CAST(:case_id AS int) AS case_id, w.id AS step_id,
               CAST(NULL AS int) AS alert_id, CAST(NULL AS int) AS facility_id, m.payload,
               replace(replace(m.key, '{{event}}', CAST(ev.id AS text)), '{{step}}', coalesce(CAST(w.id AS text), ''))
                   AS key
        FROM notices m CROSS JOIN ev LEFT JOIN wanted w ON w.n = m.step_n
    ),
    notified AS ({insert_from("messages")}
    )
    SELECT (SELECT id FROM ev), (SELECT coalesce(array_agg(id ORDER BY n), '{{}}') FROM wanted),
           (SELECT count(*) FROM changed), (SELECT count(*) FROM case_row)
    """
)


def apply_decision(
    session: Session,
    case: Case,
    steps: tuple[StepState, ...],
    event: EventRow,
    decision: Decision,
    *,
    version: int,
    pathway_hash: str | None = None,
    run_reason: str,
    audit_action: str,
    audit_detail: dict[str, Any],
    now: datetime,
    settings: Settings | None = None,
) -> Applied:
    """Write the event and its decision's effects on `case` (whose steps, as read, are `steps`), its new
    `version` and `pathway_hash`, the run request and the audit row, in the caller's transaction: one
    statement, and one more when the decision starts a prior-film request (its first message)."""
    settings = settings or get_settings()
    status, closed_at = case.status, case.closed_at
    if decision.status:
        status = decision.status
        closed_at = event.recorded_at if decision.status == CaseStatus.closed else None
    disposition = decision.disposition or (None if decision.clear_disposition else case.disposition)
    values = {
        "version": version,
        "birads": decision.birads or case.birads,
        "disposition": disposition,
        "status": status,
        "closed_at": closed_at,
        "pathway_hash": pathway_hash or case.pathway_hash,
    }
    changes, requests = step_changes(steps, event, decision)
    row = session.execute(
        WRITE,
        {
            "case_id": case.id,
            "kind": event.kind,
            "payload": json.dumps(jsonable(event.payload)),
            "outcome": json.dumps(jsonable(event.outcome)),
            "actor": event.actor,
            "occurred_at": event.occurred_at,
            "recorded_at": event.recorded_at,
            "idempotency_key": event.idempotency_key,
            "request_hash": event.request_hash,
            "new_steps": json.dumps(
                [
                    {
                        "n": number,
                        "kind": new.kind,
                        "laterality": new.laterality,
                        "status": new.status,
                        "due_at": new.due_at,
                        "target_at": new.target_at,
                        "facility_id": new.facility_id,
                    }  # fmt: skip
                    for number, new in enumerate(decision.create)
                ],
                default=jsonable,
            ),
            "created_at": utcnow(),
            "changes": json.dumps(changes, default=jsonable),
            "requests": json.dumps(requests, default=jsonable),
            "run_reason": run_reason,
            "audit_actor": event.actor,
            "audit_action": audit_action,
            "audit_detail": json.dumps(audit_detail),
            "notices": json.dumps(
                decision_notices(decision.create, event.kind, decision.warnings, settings=settings), default=jsonable
            ),
            "now": now,
            **values,
        },
    ).one()
    event_id, created, _, _ = row
    _bring_in_line(session, case, values)
    if any(new.kind == StepKind.prior_film_request for new in decision.create):
        request_prior_films(session, case.id, now, settings=settings)
    return Applied(event_id, list(created))


def step_changes(
    steps_read: tuple[StepState, ...], event: EventRow, decision: Decision
) -> tuple[list[dict], list[dict]]:
    """The decision's step changes as one row per step (in the engine's order: complete, cancel,
    hand off, un-book, book; a later change of a field wins), and the film requests they end."""
    steps: dict[int, dict[str, Any]] = {}

    def change(step_id: int, **fields: Any) -> None:
        steps.setdefault(step_id, {"id": step_id}).update(fields)

    for item in decision.complete:
        change(item.step_id, status=StepStatus.completed.value, completed_at=event.occurred_at, set_completed=True,
               result={"event": event.kind, **event.payload})  # fmt: skip
    for item in decision.cancel:
        change(item.step_id, status=StepStatus.cancelled.value, result={"reason": item.reason})
    for item in decision.hand_off:
        change(item.step_id, status=StepStatus.handed_off.value, result={"reason": item.reason})
    for item in decision.unschedule:
        change(item.step_id, status=StepStatus.pending.value, scheduled_at=None, set_scheduled=True)
    for step_id, moment in decision.schedule:
        change(step_id, status=StepStatus.scheduled.value, scheduled_at=moment, set_scheduled=True)
    kinds = {step.id: step.kind for step in steps_read}
    requests = []
    for step_id, fields in steps.items():
        if kinds.get(step_id) != StepKind.prior_film_request:
            continue
        if fields["status"] == StepStatus.completed:
            requests.append(
                {"step_id": step_id, "status": PriorFilmStatus.received.value, "received_at": event.occurred_at,
                 "comparison": event.payload.get("comparison")}
            )  # fmt: skip
        elif fields["status"] in (StepStatus.cancelled, StepStatus.handed_off):
            reason = event.payload.get("reason") or fields.get("result", {}).get("reason")
            requests.append(
                {"step_id": step_id, "status": PriorFilmStatus.unobtainable.value, "unobtainable_reason": reason}
            )
    return list(steps.values()), requests


def _bring_in_line(session: Session, case: Case, values: dict[str, Any]) -> None:
    """The session's objects for this case as the statement left the rows (no second write at flush)."""
    for name, value in values.items():
        set_committed_value(case, name, value)
    session.expire(case, ["next_step_due_at", "next_task_due_at"])  # kept by triggers (migration 0009)
    for held in list(session.identity_map.values()):
        if isinstance(held, Step | PriorFilmRequest) and inspect(held).dict.get("case_id") == case.id:
            session.expire(held)
