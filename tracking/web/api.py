"""The JSON API under /api, for machine clients (API tokens) and scripts. OpenAPI at /openapi.json.

Errors are JSON `{"error": ..., "guard": ..., "field": ...}`: 401 not signed in, 403 role,
404 unknown, 409 stale version, 422 invalid, refused by the pathway, or an idempotency key first
used with a different request (the error names the key), 503 database unavailable. A refused
request writes nothing.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import select

from tracking.alerts.service import acknowledge_alert, list_alerts
from tracking.cases.errors import InvalidInput
from tracking.cases.models import Case
from tracking.cases.opening import CaseOpening, FreeText, open_case
from tracking.cases.queries import case_history, list_overdue
from tracking.cases.recording import record_event
from tracking.cases.state import jsonable
from tracking.cases.windows import step_json
from tracking.pathway.definition import find_pathway
from tracking.pathway.fields import INT4_MAX, shown
from tracking.screening.queries import MAX_DUE_WITHIN_DAYS, RecallFilters, screening_recall
from tracking.users.roles import MANAGE_ALERTS, OPEN_CASES, RECORD_EVENTS, may_record
from tracking.web.deps import Forbidden, NowDep, Reader, SessionDep, require

router = APIRouter(prefix="/api", tags=["api"])

# Ids are int4 in the database: a larger one is refused (422) before any query.
CaseId = Annotated[int, Path(ge=1, le=INT4_MAX, description="Case id")]
AlertId = Annotated[int, Path(ge=1, le=INT4_MAX, description="Alert id")]
IdempotencyKey = Annotated[
    str | None,
    Header(alias="Idempotency-Key", min_length=1, max_length=200, description="Replays the first result (1-200 chars)"),
]


class EventIn(BaseModel):
    model_config = ConfigDict(allow_inf_nan=False)

    kind: str = Field(min_length=1, max_length=40, description="Event kind, e.g. magnification_result")
    data: dict[str, Any] = Field(
        default_factory=dict,
        max_length=50,
        description="The event's fields (see the pathway file): text at most 4000 characters (reason and "
        "override_reason 500), no control characters but line breaks; numbers finite and in range "
        "(extent_mm 0-1000, cores 1-100, ids 1-2147483647); date-times with a zone, 1900-2199",
    )
    occurred_at: datetime | None = Field(
        default=None, description="When it happened; default now. Not before the case was opened, not in the future"
    )
    expected_version: int | None = Field(
        default=None, ge=1, le=INT4_MAX, description="Refuse with 409 if the case changed since"
    )


class AckIn(BaseModel):
    reason: FreeText = Field(min_length=3, max_length=500)
    snooze_days: int | None = Field(default=None, ge=1, le=90)


class Created(BaseModel):
    case_id: int
    event_id: int
    case_version: int | None = None
    created_step_ids: list[int]
    warnings: list[str]
    replayed: bool


@router.post("/cases", status_code=201, response_model=Created)
def api_open_case(
    opening: CaseOpening,
    session: SessionDep,
    now: NowDep,
    signed=Depends(require(*OPEN_CASES)),
    idempotency_key: IdempotencyKey = None,
):
    """Open a case; the pathway's immediate steps are created at once."""
    opened = open_case(session, opening, actor=signed.user.username, now=now, idempotency_key=idempotency_key)
    body = Created(case_id=opened.case_id, event_id=opened.event_id, case_version=1, created_step_ids=opened.step_ids,
                   warnings=opened.warnings, replayed=opened.replayed)  # fmt: skip
    return JSONResponse(body.model_dump(), status_code=200 if opened.replayed else 201)


@router.get("/cases/{case_id}")
def api_case(case_id: CaseId, session: SessionDep, now: NowDep, signed: Reader) -> dict[str, Any]:
    """A case with its patient, steps, prior-film requests, alerts and history. Audited as a view."""
    history = case_history(session, case_id, actor=signed.user.username, now=now)
    return jsonable(
        {
            "case": history.case.model_dump(),
            "patient": {
                "mrn": history.patient.mrn,
                "given_name": history.patient.given_name,
                "family_name": history.patient.family_name,
                "birth_date": history.patient.birth_date,
            },
            "steps": [step_json(step) for step in history.steps],
            "prior_film_requests": [
                {**request.model_dump(), "facility": facility.name} for request, facility in history.prior_film_requests
            ],
            "alerts": [alert.model_dump() for alert in history.alerts],
            "events": [event.model_dump() for event in history.events],
        }
    )


@router.post("/cases/{case_id}/events", status_code=201, response_model=Created)
def api_record_event(
    case_id: CaseId,
    event: EventIn,
    session: SessionDep,
    now: NowDep,
    signed: Reader,
    idempotency_key: IdempotencyKey = None,
    if_match: str | None = Header(
        default=None, alias="If-Match", max_length=40, description="The case version you read"
    ),
):
    """Record an event. Honours Idempotency-Key; a stale version (body or If-Match) answers 409."""
    if signed.user.role not in RECORD_EVENTS:
        raise Forbidden("your role may not record events")
    pinned = session.exec(select(Case.pathway_name, Case.pathway_version).where(Case.id == case_id)).first()
    if pinned is not None:  # a missing case is answered 404 by record_event
        pathway = find_pathway(*pinned)
        if event.kind in pathway.events and not may_record(signed.user.role, event.kind, pathway):
            raise Forbidden(f"your role may not record {shown(event.kind)}")
    expected = event.expected_version
    if if_match is not None:
        version = if_match.strip('"W/')
        if not (version.isascii() and version.isdigit() and len(version) <= 10):
            raise InvalidInput("If-Match must be the case version number")
        expected = int(version)
    result = record_event(
        session, case_id, event.kind, event.data, actor=signed.user.username, now=now,
        occurred_at=event.occurred_at, idempotency_key=idempotency_key, expected_version=expected,
    )  # fmt: skip
    body = Created(
        case_id=case_id,
        event_id=result.event_id,
        case_version=result.case_version,
        created_step_ids=result.created_step_ids,
        warnings=result.warnings,
        replayed=result.replayed,
    )
    return JSONResponse(body.model_dump(), status_code=200 if result.replayed else 201,
                        headers={"ETag": f'"{result.case_version}"'})  # fmt: skip


@router.get("/overdue")
def api_overdue(
    session: SessionDep,
    now: NowDep,
    signed: Reader,
    step: str | None = Query(None, max_length=40, description="Only this step kind"),
    older_than: int | None = Query(None, ge=0, le=36_500, description="Only steps overdue by more than DAYS"),
    limit: int = Query(500, ge=1, le=10_000),
) -> list[dict[str, Any]]:
    """Overdue steps of open cases, most overdue first (the same filters as `workup overdue`)."""
    rows = list_overdue(session, now, actor=signed.user.username, step_kind=step, older_than_days=older_than,
                        limit=limit)  # fmt: skip
    return [row.as_dict() for row in rows]


@router.get("/screening")
def api_screening(
    session: SessionDep,
    now: NowDep,
    signed: Reader,
    overdue: bool = Query(False, description="Only screening past its due date"),
    due_within: int | None = Query(
        None, ge=0, le=MAX_DUE_WITHIN_DAYS, description="Only screening due within DAYS (overdue included)"
    ),
    limit: int = Query(500, ge=1, le=10_000),
    offset: int = Query(0, ge=0, le=1_000_000),
) -> list[dict[str, Any]]:
    """The screening recall list: routine screening handed off when its case closed, earliest due first,
    until it is done (the same filters as `workup screening`). Ids only; the page names the patients."""
    rows, _ = screening_recall(session, now, actor=signed.user.username, offset=offset, limit=limit,
                               filters=RecallFilters(overdue_only=overdue, due_within_days=due_within))  # fmt: skip
    return [row.as_dict() for row in rows]


@router.get("/alerts")
def api_alerts(
    session: SessionDep,
    signed: Reader,
    open_only: bool = Query(False, alias="open", description="Only unresolved alerts"),
    case_id: int | None = Query(None, alias="case", ge=1, le=INT4_MAX),
) -> list[dict[str, Any]]:
    """Alerts, highest level first."""
    return [row.as_dict() for row in list_alerts(session, unresolved_only=open_only, case_id=case_id)]


@router.post("/alerts/{alert_id}/ack")
def api_ack_alert(
    alert_id: AlertId, body: AckIn, session: SessionDep, now: NowDep, signed=Depends(require(*MANAGE_ALERTS))
) -> dict[str, Any]:
    """Acknowledge an alert with a reason, optionally snoozing its escalation."""
    alert = acknowledge_alert(
        session, alert_id, actor=signed.user.username, reason=body.reason, now=now,
        snooze_until=now + timedelta(days=body.snooze_days) if body.snooze_days else None,
    )  # fmt: skip
    return jsonable(alert.model_dump())
