"""The case page: patient header, where the case stands, steps, prior films, one timeline, and forms."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import RedirectResponse, Response
from sqlmodel import Session, col, select

from tracking.alerts.service import acknowledge_alert
from tracking.alerts.stuck_work import CASE_ALERTS, unresolved_stuck_work
from tracking.audit import audit
from tracking.cases.errors import IdempotencyKeyReused, InvalidInput, NotFound, VersionConflict, WorkupError
from tracking.cases.models import Case
from tracking.cases.queries import case_history
from tracking.cases.recording import record_event
from tracking.cases.windows import due_text, step_window
from tracking.notify.models import Notification
from tracking.pathway.definition import EventRule, Pathway, find_pathway
from tracking.pathway.fields import INT4_MAX, field_bounds, shown
from tracking.runs.models import CaseRun
from tracking.users.models import User
from tracking.users.roles import ASSIGN, MANAGE_ALERTS, Role, may_record, may_record_any
from tracking.users.service import assignable_navigator
from tracking.web.deps import Forbidden, NowDep, Reader, SessionDep, require
from tracking.web.errors import ack_reason, record_refusal
from tracking.web.presenters import lateness, side, step_title
from tracking.web.templating import page
from tracking.web.timeline import case_timeline, words

router = APIRouter(include_in_schema=False)


def recordable_events(pathway: Pathway, role: str, case_status: str | None = None) -> list[EventRule]:
    """The events `role` may record; on a closed case only those its pathway allows there (screening)."""
    closed = case_status == "closed"
    return [rule for rule in pathway.events.values()
            if may_record(role, rule.kind, pathway) and (rule.on_closed_case or not closed)]  # fmt: skip


def field_widgets(pathway: Pathway, rule: EventRule) -> list[dict[str, Any]]:
    """How each field of an event is asked for on the form."""
    widgets = []
    for field in rule.fields.values():
        widget: dict[str, Any] = {"name": field.name, "label": field.name.replace("_", " "), "required": field.required}
        if field.type == "choice":
            widget |= {"input": "select", "options": [(value, value.replace("_", " ")) for value in field.choices]}
        elif field.type == "boolean":
            widget |= {"input": "select", "options": [("true", "yes"), ("false", "no")]}
        elif field.type in ("integer", "number"):
            bounds = field_bounds(field)
            widget |= {"input": "number", "step": "1" if field.type == "integer" else "any",
                       "min": _number(bounds.minimum), "max": _number(bounds.maximum)}  # fmt: skip
        elif field.type == "datetime":
            widget |= {"input": "datetime-local", "label": f"{widget['label']} (UTC)"}
        elif field.type == "text":
            widget |= {"input": "text", "maxlength": field_bounds(field).max_length}
        else:  # a pathway vocabulary
            widget |= {"input": "select", "options": vocabulary_options(pathway, field.type)}
        widgets.append(widget)
    return widgets


def _number(value: float | None) -> str | None:
    return None if value is None else str(int(value)) if float(value).is_integer() else str(value)


def vocabulary_options(pathway: Pathway, name: str) -> list[tuple[str, str]]:
    values = pathway.vocabularies[name]
    if name == "pathology":
        return [(item, f"{words(item)} ({words(group)})") for group, items in values.items() for item in items]
    if name == "morphology":
        return [(key, f"{words(key)} ({concern})") for key, concern in values.items()]
    if isinstance(values, dict):
        return [(key, f"{words(key)}: {text}") for key, text in values.items()]
    return [(str(value), words(value)) for value in values]


def no_such_case(case_id: int) -> NotFound:
    return NotFound(f"case {case_id} does not exist")


# Path ids are int4 in the database: a larger one is refused (422) before any query.
CaseId = Annotated[int, PathParam(ge=1, le=INT4_MAX)]
AlertId = Annotated[int, PathParam(ge=1, le=INT4_MAX)]


def form_to_data(rule: EventRule, form: dict[str, str]) -> dict[str, Any]:
    """Form text to event data; the engine validates every value and names what is wrong."""
    data: dict[str, Any] = {}
    for field in rule.fields.values():
        raw = (form.get(field.name) or "").strip()
        if not raw:
            continue
        if field.type == "boolean":
            data[field.name] = raw == "true"
        elif field.type == "integer" and raw.lstrip("-").isascii() and raw.lstrip("-").isdigit() and len(raw) < 20:
            data[field.name] = int(raw)
        elif field.type == "number":
            try:
                data[field.name] = float(raw)
            except ValueError:
                data[field.name] = raw
        elif field.type == "datetime":
            data[field.name] = utc_moment(raw)
        else:
            data[field.name] = raw
    return data


def utc_moment(raw: str) -> str | None:
    """A datetime-local value (no zone) read as UTC; empty means now."""
    raw = raw.strip()
    if not raw:
        return None
    return raw if raw.endswith("Z") or "+" in raw else raw + ("+00:00" if len(raw) > 10 else "T00:00:00+00:00")


def load_case_page(session: Session, case_id: int, signed, now) -> dict[str, Any]:
    history = case_history(session, case_id, actor=signed.user.username, now=now)
    case = history.case
    pathway = find_pathway(case.pathway_name, case.pathway_version)
    runs = session.exec(select(CaseRun).where(CaseRun.case_id == case_id).order_by(CaseRun.id)).all()
    notes = session.exec(select(Notification).where(Notification.case_id == case_id).order_by(Notification.id)).all()
    # Open steps, and routine screening handed off at closure (still tracked: tracking/screening/),
    # show how late they are; `done` steps no longer carry an alert after the next sweep.
    tracked = ("pending", "scheduled", "handed_off") if case.status == "closed" else ("pending", "scheduled")
    steps = [
        {
            "step": step,
            "title": step_title(pathway, step.kind),
            "side": side(step.laterality),
            "window": step_window(step),
            "due": due_text(step),
            "late": lateness(step.due_at, now) if step.status in tracked else None,
            "screening": pathway.is_screening(step.kind),
            "handed_off": step.status == "handed_off",
        }
        for step in history.steps
    ]
    next_steps = [item for item in steps if item["late"] and not item["screening"] and not item["handed_off"]]
    steps_by_id = {item["step"].id: item for item in steps}
    case_alerts = unresolved_stuck_work(session, kinds=CASE_ALERTS, case_ids=[case_id])
    stuck_by_id = {item.alert_id: item for item in case_alerts}
    navigator = session.get(User, case.navigator_id) if case.navigator_id else None
    events = recordable_events(pathway, signed.user.role, case.status)
    return {
        "history": history,
        "case": case,
        "patient": history.patient,
        "age": (now.date() - history.patient.birth_date).days // 365,
        "pathway": pathway,
        "steps": steps,
        "next_steps": next_steps,
        "recall": [item for item in steps if item["handed_off"] and item["late"]],
        "alerts": [
            {"alert": alert, "step": steps_by_id[alert.step_id], "title": steps_by_id[alert.step_id]["title"]}
            for alert in history.alerts
            if alert.status != "resolved" and alert.step_id in steps_by_id
        ]
        + [
            {"alert": alert, "step": None, "title": stuck_by_id[alert.id].headline}
            for alert in history.alerts
            if alert.id in stuck_by_id
        ],
        "timeline": case_timeline(history, runs, notes, pathway),
        "events": events,
        "navigator": navigator,
        "navigators": session.exec(
            select(User).where(User.role == Role.navigator, col(User.disabled_at).is_(None)).order_by(User.username)
        ).all(),
        "can_record": may_record_any(signed.user.role) and bool(events),
        "can_assign": signed.user.role in ASSIGN,
        "can_ack": signed.user.role in MANAGE_ALERTS,
        "now": now,
        "snooze_choices": [1, 3, 7, 14],
    }


@router.get("/cases/{case_id}")
def case_page(request: Request, case_id: CaseId, session: SessionDep, now: NowDep, signed: Reader):
    context = load_case_page(session, case_id, signed, now)  # NotFound: the error page (tracking/web/errors.py)
    return page(request, "case.html", **context, form=None)


@router.get("/cases/{case_id}/event-form")
def event_form(
    request: Request, case_id: CaseId, session: SessionDep, signed: Reader, kind: str = Query(max_length=40)
):
    case = session.get(Case, case_id)
    if case is None:
        raise no_such_case(case_id)
    pathway = find_pathway(case.pathway_name, case.pathway_version)
    rule = pathway.events.get(kind)
    if rule is None or not may_record(signed.user.role, kind, pathway):
        return Response("", status_code=204)
    return page(request, "event_form.html", case=case, rule=rule, widgets=field_widgets(pathway, rule), values={},
                refusal=None, token=str(uuid.uuid4()))  # fmt: skip


@router.post("/cases/{case_id}/events")
async def submit_event(request: Request, case_id: CaseId, session: SessionDep, now: NowDep, signed: Reader):
    form = {key: str(value) for key, value in (await request.form()).items()}
    case = session.get(Case, case_id)
    if case is None:
        raise no_such_case(case_id)
    pathway = find_pathway(case.pathway_name, case.pathway_version)
    kind = form.get("kind", "")
    rule = pathway.events.get(kind)
    if rule is None:
        raise InvalidInput(f"{shown(kind)} is not an event of this pathway")
    if not may_record(signed.user.role, kind, pathway):
        raise Forbidden(f"Your role may not record {rule.title.lower()}.")
    version = form.get("expected_version", "")
    if version and not (version.isascii() and version.isdigit() and len(version) <= 10):
        raise InvalidInput("expected_version must be the case version number")
    try:
        record_event(
            session, case_id, kind, form_to_data(rule, form), actor=signed.user.username, now=now,
            occurred_at=utc_moment(form.get("occurred_at", "")),
            idempotency_key=f"web:{form['token']}" if form.get("token") else None,
            expected_version=int(version) if version.isdigit() else None,
        )  # fmt: skip
    except WorkupError as refused:
        session.rollback()
        record_refusal(request, 409 if isinstance(refused, VersionConflict) else 422)
        pathway_refusal = getattr(refused, "refusal", None)
        reused = isinstance(refused, IdempotencyKeyReused)  # this form was already saved with other values
        message = pathway_refusal.message if pathway_refusal else str(refused)
        if reused:
            message = (
                "This form was already saved with other values; nothing more was saved. Reload the case to see "
                "what was recorded, or send the form again to record these values as a new event."
            )
        refusal = {
            "guard": pathway_refusal.guard if pathway_refusal else None,
            "message": message,
            "conflict": isinstance(refused, VersionConflict),
        }
        token = str(uuid.uuid4()) if reused else form.get("token") or str(uuid.uuid4())
        form_context = {"rule": rule, "widgets": field_widgets(pathway, rule), "values": form, "refusal": refusal,
                        "token": token}  # fmt: skip
        if request.headers.get("HX-Request"):
            return page(request, "event_form.html", case=case, **form_context)
        context = load_case_page(session, case_id, signed, now)
        session.commit()  # the audit row of this view; the refused event saved nothing
        return page(request, "case.html", status_code=422, **context, form=form_context)
    session.commit()
    return _back_to_case(request, case_id)


def _back_to_case(request: Request, case_id: int):
    if request.headers.get("HX-Request"):
        return Response(status_code=204, headers={"HX-Redirect": f"/cases/{case_id}"})
    return RedirectResponse(f"/cases/{case_id}", status_code=303)


@router.post("/cases/{case_id}/assign")
async def assign(request: Request, case_id: CaseId, session: SessionDep, now: NowDep, signed=Depends(require(*ASSIGN))):
    form = await request.form()
    username = str(form.get("navigator") or "")
    case = session.exec(select(Case).where(Case.id == case_id).with_for_update()).first()
    if case is None:
        raise no_such_case(case_id)
    navigator = None
    if username:
        try:
            navigator = assignable_navigator(session, username)
        except InvalidInput as refused:
            session.rollback()
            record_refusal(request, 422)
            return page(request, "error.html", status_code=422, title="Not an active navigator", message=str(refused))
    case.navigator_id = navigator.id if navigator else None
    session.add(case)
    audit(session, actor=signed.user.username, action="case.assigned", at=now, case_id=case_id,
          navigator=navigator.username if navigator else None)  # fmt: skip
    session.commit()
    return _back_to_case(request, case_id)


@router.post("/alerts/{alert_id}/ack")
async def ack(request: Request, alert_id: AlertId, session: SessionDep, now: NowDep,
              signed=Depends(require(*MANAGE_ALERTS))):  # fmt: skip
    form = await request.form()
    snooze = str(form.get("snooze_days") or "")
    if snooze and not (snooze.isascii() and snooze.isdigit() and len(snooze) <= 2 and int(snooze) <= 90):
        raise InvalidInput("snooze days must be a whole number from 0 to 90")
    alert = acknowledge_alert(
        session, alert_id, actor=signed.user.username, reason=ack_reason(str(form.get("reason") or "")), now=now,
        snooze_until=now + timedelta(days=int(snooze)) if snooze and int(snooze) > 0 else None,
    )  # fmt: skip
    return _back_to_case(request, alert.case_id)
