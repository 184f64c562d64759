"""The case page and what is recorded from it: events (also calls and letters), assignment, alert acknowledgement.

What the page shows is gathered in tracking/web/case_page.py; the navigator's own work on a case
(contact details, notes, tasks) is in tracking/web/routes_navigation.py, included here.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import RedirectResponse, Response
from sqlmodel import Session, select

from tracking.alerts.service import acknowledge_alert
from tracking.audit import audit
from tracking.cases.errors import IdempotencyKeyReused, InvalidInput, NotFound, VersionConflict, WorkupError
from tracking.cases.models import Case
from tracking.cases.recording import record_event
from tracking.cases.state import touch_case_steps
from tracking.pathway.definition import find_pathway
from tracking.pathway.fields import INT4_MAX, shown
from tracking.users.roles import ASSIGN, MANAGE_ALERTS, may_record
from tracking.users.service import Signed, assignable_navigator
from tracking.web import routes_navigation
from tracking.web.case_page import CONTACT_EVENT, Forms, call_form_context, event_form_context, load_case_page
from tracking.web.deps import Forbidden, NowDep, Reader, SessionDep, require
from tracking.web.errors import ack_reason, record_refusal
from tracking.web.event_forms import form_to_data, typed_field_moment
from tracking.web.templating import page

router = APIRouter(include_in_schema=False)
router.include_router(routes_navigation.router)


def _page(request: Request, name: str, status_code: int = 200, **context: Any) -> Response:
    answer: Response = page(request, name, status_code, **context)
    return answer


def no_such_case(case_id: int) -> NotFound:
    return NotFound(f"case {case_id} does not exist")


# Path ids are int4 in the database: a larger one is refused (422) before any query.
CaseId = Annotated[int, PathParam(ge=1, le=INT4_MAX)]
AlertId = Annotated[int, PathParam(ge=1, le=INT4_MAX)]


@router.get("/cases/{case_id}")
def case_page(
    request: Request,
    case_id: CaseId,
    session: SessionDep,
    now: NowDep,
    signed: Reader,
    saved: Annotated[str | None, Query(max_length=20)] = None,
    recorded: Annotated[int | None, Query(ge=1, le=INT4_MAX)] = None,
    system: Annotated[bool, Query()] = False,
    event: Annotated[str | None, Query(max_length=40)] = None,
    letter: Annotated[int | None, Query(ge=1, le=INT4_MAX)] = None,
) -> Response:
    """The case page; `?event=<kind>` opens that event's form without JavaScript."""
    context = load_case_page(session, case_id, signed, now, system=system, saved=saved, recorded=recorded,
                             event_kind=event, letter=letter)  # fmt: skip  # NotFound: the error page
    return _page(request, "case.html", **context)


@router.get("/cases/{case_id}/event-form")
def event_form(
    request: Request,
    case_id: CaseId,
    session: SessionDep,
    signed: Reader,
    kind: Annotated[str, Query(max_length=40)] = "",
    event: Annotated[str, Query(max_length=40)] = "",
) -> Response:
    """The fields of one event (htmx: the "Show the form" button); `event` is the no-JS form's name."""
    case = session.get(Case, case_id)
    if case is None:
        raise no_such_case(case_id)
    pathway = find_pathway(case.pathway_name, case.pathway_version)
    kind = kind or event
    rule = pathway.events.get(kind)
    if rule is None or not may_record(signed.user.role, kind, pathway):
        return _page(request, "event_form_empty.html")
    return _page(request, "event_form.html", case=case, inline_summary=True,
                **event_form_context(pathway, rule, _facilities(session, case_id)))  # fmt: skip


def _facilities(session: Session, case_id: int) -> list[tuple[int, str]]:
    from tracking.cases.models import OutsideFacility, PriorFilmRequest

    rows = session.exec(
        select(OutsideFacility.id, OutsideFacility.name).join(PriorFilmRequest)
        .where(PriorFilmRequest.case_id == case_id).order_by(OutsideFacility.name)
    ).all()  # fmt: skip
    return [(facility_id, name) for facility_id, name in rows if facility_id]


def _refusal(refused: WorkupError) -> dict[str, Any]:
    pathway_refusal = getattr(refused, "refusal", None)
    message = pathway_refusal.message if pathway_refusal else str(refused)
    if isinstance(refused, IdempotencyKeyReused):  # this form was already saved with other values
        message = (
            "This form was already saved with other values; nothing more was saved. Reload the case to see "
            "what was recorded, or send the form again to record these values as a new event."
        )
    guard = pathway_refusal.guard if pathway_refusal else None
    conflict = isinstance(refused, VersionConflict)
    heading = (
        f"Not saved: safety guard {guard}" if guard else "Not saved: the case changed" if conflict else "Not saved"
    )
    return {"guard": guard, "message": message, "conflict": conflict, "heading": heading,
            "field": getattr(pathway_refusal, "field", None)}  # fmt: skip


@router.post("/cases/{case_id}/events")
async def submit_event(request: Request, case_id: CaseId, session: SessionDep, now: NowDep, signed: Reader) -> Response:
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
        recorded = record_event(
            session, case_id, kind, form_to_data(rule, form), actor=signed.user.username, now=now,
            occurred_at=typed_field_moment(form.get("occurred_at", ""), "occurred_at", "when it happened"),
            idempotency_key=f"web:{form['token']}" if form.get("token") else None,
            expected_version=int(version) if version.isdigit() else None,
        )  # fmt: skip
    except WorkupError as refused:
        session.rollback()
        record_refusal(request, 409 if isinstance(refused, VersionConflict) else 422)
        refusal = _refusal(refused)
        reused = isinstance(refused, IdempotencyKeyReused)
        token = None if reused else form.get("token") or None
        facilities = _facilities(session, case_id)
        if request.headers.get("HX-Request"):
            context = event_form_context(pathway, rule, facilities, values=form, refusal=refusal, token=token)
            return _page(request, "event_form.html", case=case, inline_summary=True, **context)
        if form.get("form") == "contact" and kind == CONTACT_EVENT:
            call = call_form_context(rule, values=form, refusal=refusal, token=token)
            forms = Forms(call=call, problems=[(call["refusal"]["field_id"], refusal["message"])])
        else:
            context = event_form_context(pathway, rule, facilities, values=form, refusal=refusal, token=token)
            forms = Forms(event=context, problems=[(context["refusal"]["field_id"], refusal["message"])])
        page_context = load_case_page(session, case_id, signed, now, forms=forms)
        session.commit()  # the audit row of this view; the refused event saved nothing
        return _page(request, "case.html", status_code=422, refusal=refusal, **page_context)
    session.commit()
    return back_to_case(request, case_id, f"saved=event&recorded={recorded.event_id}")


def back_to_case(request: Request, case_id: int, query: str = "") -> Response:
    target = f"/cases/{case_id}" + (f"?{query}" if query else "")
    if request.headers.get("HX-Request"):
        return Response(status_code=204, headers={"HX-Redirect": target})
    return RedirectResponse(target, status_code=303)


@router.post("/cases/{case_id}/assign")
async def assign(
    request: Request, case_id: CaseId, session: SessionDep, now: NowDep, signed: Signed = Depends(require(*ASSIGN))
) -> Response:
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
            return _page(request, "error.html", status_code=422, title="Not an active navigator", message=str(refused))
    if case.navigator_id != (navigator.id if navigator else None):
        case.navigator_id = navigator.id if navigator else None
        touch_case_steps(session, case_id, now)  # each step's Task shows the navigator as its owner
    session.add(case)
    audit(session, actor=signed.user.username, action="case.assigned", at=now, case_id=case_id,
          navigator=navigator.username if navigator else None)  # fmt: skip
    session.commit()
    return back_to_case(request, case_id)


@router.post("/alerts/{alert_id}/ack")
async def ack(request: Request, alert_id: AlertId, session: SessionDep, now: NowDep,
              signed: Signed = Depends(require(*MANAGE_ALERTS))) -> Response:  # fmt: skip
    form = await request.form()
    snooze = str(form.get("snooze_days") or "")
    if snooze and not (snooze.isascii() and snooze.isdigit() and len(snooze) <= 2 and int(snooze) <= 90):
        raise InvalidInput("snooze days must be a whole number from 0 to 90")
    alert = acknowledge_alert(
        session, alert_id, actor=signed.user.username, reason=ack_reason(str(form.get("reason") or "")), now=now,
        snooze_until=now + timedelta(days=int(snooze)) if snooze and int(snooze) > 0 else None,
    )  # fmt: skip
    return back_to_case(request, alert.case_id, "saved=ack")
