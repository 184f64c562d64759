"""The HL7 inbox page: what the RIS sent that was not applied by itself, each item prefilled for
one-click confirmation (editable first), or dismissed with a reason. Navigators and radiologists;
what each may confirm is the same as by hand (tracking/hl7/inbox.py, the pathway's recorded_by).

GET /hl7/inbox lists the open items, oldest first. POST /hl7/inbox/{item_id}/confirm and
/dismiss answer a refusal with 422, the page, an error summary and the item's form as typed; a
saved one redirects to the page with a banner (Post/Redirect/Get).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from sqlmodel import Session

from tracking.cases.errors import GuardRefused, NotFound, WorkupError
from tracking.cases.models import Case, CaseEvent, Patient
from tracking.hl7.inbox import Person, confirm_item, dismiss_item, list_items, may_confirm
from tracking.hl7.inbox_models import HL7InboxItem
from tracking.pathway.definition import find_pathway
from tracking.pathway.fields import INT4_MAX
from tracking.pathway.vocabulary import HL7InboxKind, HL7InboxStatus
from tracking.users.roles import HL7_INBOX
from tracking.users.service import Signed
from tracking.web.deps import Forbidden, NowDep, SessionDep, require
from tracking.web.errors import record_refusal
from tracking.web.form_problems import Problems, sentence
from tracking.web.hl7_inbox_forms import FieldProblem, ProposalForm, proposal_form, read_proposal
from tracking.web.presenters import words
from tracking.web.templating import page

router = APIRouter(include_in_schema=False)
Reviewer = Annotated[Signed, Depends(require(*HL7_INBOX))]
ItemId = Annotated[int, PathParam(ge=1, le=INT4_MAX)]
SHOWN = 200  # open items on the page, oldest first
TITLES = {
    HL7InboxKind.open_case: "Open a case for a diagnostic order",
    HL7InboxKind.link_accession: "Link an order to a step",
    HL7InboxKind.update_contact_details: "Update how to reach her",
    HL7InboxKind.update_demographics: "Another name or birth date for an MRN",
    HL7InboxKind.merge_patients: "Merge two MRNs",
    HL7InboxKind.review: "For review",
}


def _person(signed: Signed) -> Person:
    return Person(signed.user.username, signed.user.role)


def inbox_page(
    request: Request,
    session: Session,
    signed: Signed,
    *,
    banner: dict[str, Any] | None = None,
    typed: dict[str, str] | None = None,
    typed_item: int | None = None,
    problems: Problems | None = None,
    status_code: int = 200,
) -> Response:
    problems = problems or Problems()
    person = _person(signed)
    cards = []
    order: list[str] = []
    for item in list_items(session, status=HL7InboxStatus.open, limit=SHOWN):
        form = proposal_form(session, item, typed if item.id == typed_item else None)
        cards.append(_card(session, item, form, person))
        order += [*form.ids(), form.confirm_id, f"{form.prefix}-reason"]
    context = {
        "cards": cards,
        "banner": banner,
        "problems": problems,
        "summary": problems.in_order(order),
        "shown": SHOWN,
    }
    response: Response = page(request, "hl7_inbox.html", status_code=status_code, nav="hl7_inbox", **context)
    return response


def _card(session: Session, item: HL7InboxItem, form: ProposalForm, person: Person) -> dict[str, Any]:
    patient = session.get(Patient, item.patient_id) if item.patient_id else None
    named = item.details.get("patient") or {}
    title = TITLES.get(HL7InboxKind(item.kind), "For review")
    if item.kind == HL7InboxKind.record_event:
        title = f"Record: {form.rule.title if form.rule else words(item.event_kind)}"
    return {
        "item": item,
        "form": form,
        "title": title,
        "patient": patient,
        "named": named,
        "cannot": may_confirm(person, item, session),
        "candidates": item.details.get("candidates") or [],
        "report_text": item.details.get("report_text") or "",
        "exam": item.details.get("procedure"),
        "accession": item.details.get("accession"),
    }


@router.get("/hl7/inbox")
def inbox(
    request: Request,
    session: SessionDep,
    signed: Reviewer,
    saved: Annotated[str, Query(max_length=20)] = "",
    item: Annotated[int | None, Query(ge=1, le=INT4_MAX)] = None,
) -> Response:
    return inbox_page(request, session, signed, banner=_banner(session, saved, item))


@router.post("/hl7/inbox/{item_id}/confirm")
async def confirm(request: Request, item_id: ItemId, session: SessionDep, now: NowDep, signed: Reviewer) -> Response:
    posted = {key: str(value) for key, value in (await request.form()).items()}
    item = _item(session, item_id)
    if item.status != HL7InboxStatus.open:  # a second click, or a colleague was quicker: show what happened
        return _decided(item)
    form = proposal_form(session, item)
    try:
        typed = read_proposal(form, posted)
        refused = may_confirm(_person(signed), item, session, typed.case_id)
        if refused is not None:
            raise Forbidden(sentence(refused) + ".")
        confirm_item(session, item_id, person=_person(signed), now=now, payload=typed.payload,
                     case_id=typed.case_id, occurred_at=typed.occurred_at)  # fmt: skip
    except (WorkupError, ValidationError) as error:
        session.rollback()
        record_refusal(request, 422)
        problems = _problems(form, error)
        return inbox_page(request, session, signed, typed=posted, typed_item=item_id, problems=problems,
                          status_code=422)  # fmt: skip
    session.commit()
    return RedirectResponse(f"/hl7/inbox?saved=confirmed&item={item_id}", status_code=303)


@router.post("/hl7/inbox/{item_id}/dismiss")
async def dismiss(request: Request, item_id: ItemId, session: SessionDep, now: NowDep, signed: Reviewer) -> Response:
    posted = {key: str(value) for key, value in (await request.form()).items()}
    item = _item(session, item_id)
    if item.status != HL7InboxStatus.open:
        return _decided(item)
    reason_id = f"i{item_id}-reason"
    reason = posted.get(reason_id, "").strip()
    try:
        if not reason:
            raise FieldProblem("Enter why nothing is done with this message", "reason")
        dismiss_item(session, item_id, person=_person(signed), reason=reason, now=now)
    except WorkupError as error:
        session.rollback()
        record_refusal(request, 422)
        problems = Problems({reason_id: sentence(str(error))})
        return inbox_page(request, session, signed, typed=posted, typed_item=item_id, problems=problems,
                          status_code=422)  # fmt: skip
    session.commit()
    return RedirectResponse(f"/hl7/inbox?saved=dismissed&item={item_id}", status_code=303)


def _decided(item: HL7InboxItem) -> Response:
    return RedirectResponse(f"/hl7/inbox?saved={item.status}&item={item.id}", status_code=303)


def _item(session: Session, item_id: int) -> HL7InboxItem:
    item = session.get(HL7InboxItem, item_id)
    if item is None:
        raise NotFound(f"there is no HL7 inbox item {item_id}")
    return item


def _problems(form: ProposalForm, error: Exception) -> Problems:
    """The refusal as one message per field of the item's form (the error summary links to each)."""
    problems = Problems()
    if isinstance(error, ValidationError):
        for found in error.errors(include_url=False, include_input=False):
            location = [str(part) for part in found["loc"]]
            name = location[0] if location else None
            if name == "contact" and len(location) >= 4 and location[1] == "phones":
                name = f"phone{location[2]}_number"
            elif name == "phones" and len(location) >= 2:
                name = f"phone{location[1]}_number"
            message = str(found["msg"]).removeprefix("Value error, ")
            problems.add(form.field_id(name), sentence(f"{words(location[0]) if location else 'input'}: {message}"))
        return problems
    field = getattr(error, "field", None)
    if isinstance(error, GuardRefused):
        field = error.refusal.field
        heading = f"Not saved: safety guard {error.refusal.guard}: " if error.refusal.guard else "Not saved: "
        problems.add(form.field_id(field), heading + error.refusal.message)
        return problems
    problems.add(form.field_id(field) if field else form.confirm_id, sentence(str(error)))
    return problems


def _banner(session: Session, saved: str, item_id: int | None) -> dict[str, Any] | None:
    """What the last confirm or dismiss did, with the recorded event's warnings."""
    if saved not in ("confirmed", "dismissed") or item_id is None:
        return None
    item = session.get(HL7InboxItem, item_id)
    if item is None or item.status != saved:
        return None
    if saved == "dismissed":
        return {"text": f"Inbox item {item.id} dismissed by {item.decided_by}.", "case_id": item.case_id,
                "warnings": []}  # fmt: skip
    what = {
        HL7InboxKind.open_case: f"case {item.case_id} opened",
        HL7InboxKind.link_accession: "accession number linked",
        HL7InboxKind.update_contact_details: "contact details saved",
        HL7InboxKind.update_demographics: "name and birth date saved",
        HL7InboxKind.merge_patients: "the two records merged",
        HL7InboxKind.review: "marked as seen",
    }.get(HL7InboxKind(item.kind), "done")
    warnings: list[str] = []
    event = session.get(CaseEvent, item.resulting_event_id) if item.resulting_event_id else None
    if item.kind == HL7InboxKind.record_event and event is not None:
        case = session.get(Case, event.case_id)
        rule = find_pathway(case.pathway_name, case.pathway_version).events.get(event.kind) if case else None
        what = f"{rule.title if rule else words(event.kind)} recorded on case {event.case_id}"
        warnings = list(event.outcome.get("warnings", []))
    text = f"Inbox item {item.id} confirmed by {item.decided_by}: {what}."
    return {"text": text, "case_id": item.case_id, "warnings": warnings}
