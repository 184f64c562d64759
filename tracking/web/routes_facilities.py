"""The facility directory page: every role reads it; navigators and admins add and edit facilities.

GET /facilities lists name, how requests are sent, contact and phone. POST /facilities adds one,
POST /facilities/{facility_id} edits one (tracking/facilities/directory.py audits both). A refused
form answers 422 with the page, an error summary and the form as typed; a saved one redirects to
the list with a banner (Post/Redirect/Get).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from sqlmodel import Session

from tracking.cases.errors import InvalidInput, NotFound
from tracking.cases.models import OutsideFacility
from tracking.facilities.directory import FacilityEntry, add_facility, facilities, update_facility
from tracking.pathway.fields import INT4_MAX
from tracking.users.roles import FACILITIES
from tracking.users.service import Signed
from tracking.web.deps import NowDep, Reader, SessionDep, require
from tracking.web.errors import record_refusal
from tracking.web.form_problems import Problems, sentence, validation_problems
from tracking.web.new_case_form import CHANNEL_WORDS, CHANNELS
from tracking.web.templating import page

router = APIRouter(include_in_schema=False)
Keeper = Annotated[Signed, Depends(require(*FACILITIES))]
FacilityId = Annotated[int, PathParam(ge=1, le=INT4_MAX)]
PARTS = ("name", "channel", "contact", "phone")
LABELS = {"name": "facility name", "channel": "way requests are sent", "contact": "contact", "phone": "phone number"}
SAVED = {
    "added": "Facility added to the directory.",
    "changed": "Facility details saved.",
    "unchanged": "Nothing was changed: the details were already as typed.",
}


def directory_page(
    request: Request,
    session: Session,
    *,
    saved: str = "",
    form: str = "",
    values: dict[str, str] | None = None,
    problems: Problems | None = None,
    status_code: int = 200,
) -> Response:
    """The list; `form` is the form a refusal belongs to ("add" or "f<id>"), shown open with what was typed."""
    problems = problems or Problems()
    order = [f"{form}-{part}" for part in PARTS]
    context: dict[str, Any] = {
        "directory": facilities(session),
        "channels": CHANNELS,
        "channel_words": CHANNEL_WORDS,
        "saved": SAVED.get(saved, ""),
        "form": form,
        "values": values or {},
        "problems": problems,
        "summary": problems.in_order(order),
    }
    response: Response = page(request, "facilities.html", status_code=status_code, nav="facilities", **context)
    return response


@router.get("/facilities")
def directory(request: Request, session: SessionDep, signed: Reader, saved: str = Query("", max_length=20)) -> Response:
    return directory_page(request, session, saved=saved)


@router.post("/facilities")
async def add(request: Request, session: SessionDep, now: NowDep, signed: Keeper) -> Response:
    prefix, values = "add", await _typed(request, "add")
    entry = _entry(values, prefix)
    if isinstance(entry, Problems):
        return _refused(request, session, prefix, values, entry)
    try:
        add_facility(session, entry, actor=signed.user.username, now=now)
    except InvalidInput as refused:
        return _refused(request, session, prefix, values, Problems({f"{prefix}-name": sentence(str(refused))}))
    session.commit()
    return RedirectResponse("/facilities?saved=added", status_code=303)


@router.post("/facilities/{facility_id}")
async def edit(request: Request, facility_id: FacilityId, session: SessionDep, now: NowDep, signed: Keeper) -> Response:
    if session.get(OutsideFacility, facility_id) is None:
        raise NotFound(f"there is no outside facility {facility_id} in the directory")
    prefix = f"f{facility_id}"
    values = await _typed(request, prefix)
    entry = _entry(values, prefix)
    if isinstance(entry, Problems):
        return _refused(request, session, prefix, values, entry)
    try:
        changed = update_facility(session, facility_id, entry, actor=signed.user.username, now=now)
    except InvalidInput as refused:
        return _refused(request, session, prefix, values, Problems({f"{prefix}-name": sentence(str(refused))}))
    session.commit()
    return RedirectResponse(f"/facilities?saved={'changed' if changed else 'unchanged'}", status_code=303)


async def _typed(request: Request, prefix: str) -> dict[str, str]:
    """The form's four fields, keyed by their element ids ("add-name", "f3-contact")."""
    posted = await request.form()
    return {f"{prefix}-{part}": str(posted.get(f"{prefix}-{part}") or "") for part in PARTS}


def _entry(values: dict[str, str], prefix: str) -> FacilityEntry | Problems:
    raw = {part: values[f"{prefix}-{part}"] for part in PARTS if values[f"{prefix}-{part}"].strip()}
    try:
        return FacilityEntry.model_validate(raw)
    except ValidationError as error:
        problems = Problems()
        validation_problems(
            problems,
            error,
            lambda loc: f"{prefix}-{loc[0] if loc else 'contact'}",
            lambda field_id: LABELS[field_id.split("-", 1)[1]],
            lambda field_id: field_id.endswith("-channel"),
        )
        return problems


def _refused(request: Request, session: Session, prefix: str, values: dict[str, str], problems: Problems) -> Response:
    session.rollback()
    record_refusal(request, 422)
    return directory_page(request, session, form=prefix, values=values, problems=problems, status_code=422)
