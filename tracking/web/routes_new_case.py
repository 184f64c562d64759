"""The recall form: a navigator opens a case from a page (GET /cases/new, POST /cases).

A refused submit answers 422 with the form as typed, an error summary linking to each field and
nothing written; a saved one goes to the new case (Post/Redirect/Get). The form's hidden key is
the opening's idempotency key, so a double submit opens one case.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import RedirectResponse, Response
from sqlmodel import Session, col, select

from tracking.audit import audit
from tracking.cases.errors import GuardRefused, IdempotencyKeyReused, InvalidInput
from tracking.cases.models import Case, Patient
from tracking.cases.opening import open_case
from tracking.cases.state import event_by_key, lock_idempotency_key
from tracking.centre_time import shown_date
from tracking.facilities.directory import add_facility, facilities, facility_named
from tracking.pathway.vocabulary import CaseStatus
from tracking.users.roles import OPEN_CASES
from tracking.users.service import Signed
from tracking.web import new_case_form as recall
from tracking.web.deps import NowDep, SessionDep, require
from tracking.web.errors import record_refusal
from tracking.web.form_problems import sentence
from tracking.web.templating import page

router = APIRouter(include_in_schema=False)
Navigator = Annotated[Signed, Depends(require(*OPEN_CASES))]
KEY_PREFIX = "web-open:"
REUSED = (
    "This form was already used to open a case with other details, so nothing more was saved. "
    "Check the worklist; send the form again to open another case."
)


def form_page(request: Request, session: Session, form: recall.RecallForm, status_code: int = 200) -> Response:
    directory = facilities(session)
    anchors = {"facilities": "facility-1" if directory else "new1_name"}
    context: dict[str, Any] = {
        "values": form.values,
        "ticked": set(form.ticked),
        "key": form.key,
        "problems": form.problems,
        "summary": [
            (anchors.get(field_id, field_id), message)
            for field_id, message in form.problems.in_order(recall.field_order())
        ],  # fmt: skip
        "directory": directory,
        "finding_groups": recall.finding_groups(),
        "sides": recall.SIDES,
        "densities": recall.DENSITIES,
        "birads": recall.BIRADS,
        "channels": recall.CHANNELS,
        "channel_words": recall.CHANNEL_WORDS,
        "phone_labels": recall.PHONE_LABELS,
        "languages": recall.languages(),
        "phone_rows": recall.PHONE_ROWS,
        "new_rows": recall.NEW_FACILITY_ROWS,
    }
    response: Response = page(request, "new_case.html", status_code=status_code, nav="new_case", **context)
    return response


@router.get("/cases/new")
def new_case(request: Request, session: SessionDep, signed: Navigator) -> Response:
    return form_page(request, session, recall.RecallForm(values={}, ticked=[], key=recall.fresh_key()))


@router.get("/cases/new/patient")
def known_patient(
    request: Request, session: SessionDep, now: NowDep, signed: Navigator, mrn: str = Query("", max_length=200)
) -> Response:
    """The htmx lookup beside the MRN: who already has it, and her open cases. Audited (ids only)."""
    patient = session.exec(select(Patient).where(Patient.mrn == mrn.strip())).first() if mrn.strip() else None
    cases: list[Case] = []
    if patient is not None:
        cases = list(session.exec(select(Case).where(Case.patient_id == patient.id, Case.status != CaseStatus.closed)
                                  .order_by(col(Case.opened_at).desc())))  # fmt: skip
        audit(session, actor=signed.user.username, action="patient.looked_up", at=now, patient_id=patient.id)
    response: Response = page(
        request,
        "new_case_patient.html",
        patient=patient,
        cases=cases,
        born=shown_date(patient.birth_date) if patient else "",
    )
    return response


@router.post("/cases")
async def submit_new_case(request: Request, session: SessionDep, now: NowDep, signed: Navigator) -> Response:
    posted = await request.form()
    values = {name: str(value) for name, value in posted.items() if name not in ("facility", "csrf_token")}
    form = recall.read_recall_form(values, [str(value) for value in posted.getlist("facility")], now)
    opening = form.opening
    if opening is None:
        return _refused(request, session, form)
    key = KEY_PREFIX + form.key
    lock_idempotency_key(session, key)  # a double submit waits here for the first to finish
    first_time = event_by_key(session, key) is None
    known = session.exec(select(Patient.id).where(Patient.mrn == opening.mrn)).first() is not None
    try:
        if first_time:
            _add_new_facilities(session, form, actor=signed.user.username, now=now)
        if form.problems:
            return _refused(request, session, form)
        opened = open_case(session, opening, actor=signed.user.username, now=now, idempotency_key=key)
    except IdempotencyKeyReused:
        form.key = recall.fresh_key()
        form.problems.add("mrn", REUSED)
        return _refused(request, session, form)
    except GuardRefused as refused:
        where = refused.refusal.field if refused.refusal.field in recall.OPENING_IDS else "finding_type"
        form.problems.add(where, sentence(refused.refusal.message))
        return _refused(request, session, form)
    except InvalidInput as refused:
        form.problems.add(*_where(str(refused)))
        return _refused(request, session, form)
    session.commit()
    saved = "added_to_patient" if known and not opened.replayed else "opened"
    return RedirectResponse(f"/cases/{opened.case_id}?saved={saved}", status_code=303)


def _add_new_facilities(session: Session, form: recall.RecallForm, *, actor: str, now: datetime) -> None:
    """The facilities typed on the form join the directory (audited); a name already there is refused."""
    for item in form.new_facilities:
        existing = facility_named(session, item.entry.name)
        if existing is not None:
            form.problems.add(f"new{item.row}_name", f"{existing.name} is already in the directory: tick it in the "
                                                     "list above instead")  # fmt: skip
            continue
        add_facility(session, item.entry, actor=actor, now=now)


def _where(message: str) -> tuple[str, str]:
    """The field an opening's InvalidInput is about, and the message in the form's words."""
    text = message.removesuffix("; nothing was saved")
    if "MRN" in text:
        return (
            "mrn",
            "This MRN belongs to a patient with another name or date of birth. Check the MRN, the names "
            "and the date of birth",
        )
    if text.startswith("occurred_at"):
        return "occurred_at", sentence(text.replace("occurred_at", "the exam date and time", 1))
    if "facility" in text:
        return "facilities", sentence(text)
    if "pathway" in text:
        return "finding_type", sentence(text)
    return "mrn", sentence(text)


def _refused(request: Request, session: Session, form: recall.RecallForm) -> Response:
    """The form again, as typed, with what is wrong: 422, nothing written."""
    session.rollback()
    record_refusal(request, 422)
    return form_page(request, session, form, status_code=422)
