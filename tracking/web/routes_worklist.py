"""The worklist page: overdue first, then due soon; filters, "my cases", pagination, CSV."""

from __future__ import annotations

from math import ceil
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from sqlmodel import col, select

from tracking.alerts.stuck_work import OUTSIDE_WORK_ALERTS, unresolved_stuck_work
from tracking.audit import audit
from tracking.cases.errors import InvalidInput
from tracking.cases.models import Case, OutsideFacility, Patient
from tracking.cases.queries import COUNT_CAP, LATENESS, WorklistFilters, shown_case_ids, worklist
from tracking.cases.windows import WINDOW_FIELDS, due_text
from tracking.csv_safe import csv_text
from tracking.pathway.definition import all_step_titles
from tracking.users.models import User
from tracking.users.roles import EXPORT, Role
from tracking.web.deps import NowDep, Reader, SessionDep, require
from tracking.web.presenters import lateness, side, step_title
from tracking.web.templating import page

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 50
STUCK_SHOWN = 20


# The filter form sends every field, empty when not chosen ("facility=" means any facility).
FacilityQuery = Query(None, max_length=19, pattern=r"^[0-9]*$", description="An outside facility's id; empty for any")


def facility_id(value: str | None) -> int | None:
    """The facility filter: empty means any; an id past the column's range matches nothing."""
    if not value:
        return None
    number = int(value)
    if not 1 <= number <= 2**31 - 1:
        raise InvalidInput(f"there is no outside facility {number}")
    return number


def _filters(step: str | None, navigator: str | None, facility: str | None, late: str | None, mine: bool, user):
    return WorklistFilters(
        step_kind=step or None,
        navigator=user.username if mine else (navigator or None),
        facility_id=facility_id(facility),
        lateness=late or None,
    )


def present(row, pathway, now) -> dict:
    return {
        "row": row,
        "late": lateness(row.due_at, now),
        "due": due_text(row),
        "title": step_title(pathway, row.kind),
        "side": side(row.laterality),
    }


def page_url(request: Request, number: int) -> str:
    params = dict(request.query_params)
    params["page"] = str(number)
    return "/worklist?" + urlencode(params)


def navigator_names(session) -> list[str]:
    query = select(User.username).where(User.role == Role.navigator, col(User.disabled_at).is_(None))
    return list(session.exec(query.order_by(User.username)))


def stuck_work_rows(session, navigator: str | None, kinds: tuple[str, ...] = OUTSIDE_WORK_ALERTS) -> list[dict]:
    """Unresolved alerts about a case, with the patient's name: outside work that never happened
    (dead letters, stalled runs) by default, or cases with nothing next (`("case_stalled",)`)."""
    stuck = unresolved_stuck_work(session, kinds=kinds, limit=STUCK_SHOWN)
    if not stuck:
        return []
    query = (
        select(Case.id, Patient.family_name, Patient.given_name, User.username)
        .join(Patient, Patient.id == Case.patient_id)
        .join(User, User.id == Case.navigator_id, isouter=True)
        .where(col(Case.id).in_({item.case_id for item in stuck}))
    )
    people = {case_id: (f"{family}, {given}", user) for case_id, family, given, user in session.exec(query)}
    return [
        {"alert": item, "patient": people[item.case_id][0]}
        for item in stuck
        if navigator is None or people[item.case_id][1] == navigator
    ]


@router.get("/worklist")
def worklist_page(
    request: Request,
    session: SessionDep,
    now: NowDep,
    signed: Reader,
    step: str | None = Query(None, max_length=40),
    navigator: str | None = Query(None, max_length=120),
    facility: str | None = FacilityQuery,
    late: str | None = Query(None, max_length=40),
    mine: bool = False,
    page_number: int = Query(1, alias="page", ge=1, le=1_000_000),
):
    error = None
    try:
        filters = _filters(step, navigator, facility, late, mine, signed.user)
        rows, total = worklist(
            session, now, actor=signed.user.username, filters=filters, offset=(page_number - 1) * PAGE_SIZE,
            limit=PAGE_SIZE,
        )  # fmt: skip
    except InvalidInput as invalid:
        rows, total, error = [], 0, str(invalid)
    stuck = stuck_work_rows(session, signed.user.username if mine else None)
    stalled = stuck_work_rows(session, signed.user.username if mine else None, kinds=("case_stalled",))
    if stuck or stalled:  # the panels name patients too: their cases are shown as well
        audit(session, actor=signed.user.username, action="worklist.stuck_viewed", at=now,
              count=len(stuck) + len(stalled),
              case_ids=shown_case_ids(item["alert"] for item in [*stuck, *stalled]))  # fmt: skip
    session.commit()  # the audit row of this view
    pathway = None  # the rows mix pathways: titles come from every pathway file
    pages = max(1, ceil(total / PAGE_SIZE))
    context = {
        "rows": [present(row, pathway, now) for row in rows],
        "stuck": stuck,
        "stalled": stalled,
        "total": total,
        "count_cap": COUNT_CAP,
        "page": page_number,
        "pages": pages,
        "previous_url": page_url(request, page_number - 1) if page_number > 1 else None,
        "next_url": page_url(request, page_number + 1) if page_number < pages else None,
        "filters": {"step": step or "", "navigator": navigator or "", "late": late or "", "mine": mine,
                    "facility": int(facility) if facility and error is None else ""},
        "error": error,
        "step_kinds": sorted(all_step_titles()),
        "lateness_choices": LATENESS,
        "navigators": navigator_names(session),
        "facilities": session.exec(select(OutsideFacility).order_by(OutsideFacility.name)).all(),
        "now": now,
        "query": request.url.query,
    }  # fmt: skip
    template = "worklist_rows.html" if request.headers.get("HX-Request") else "worklist.html"
    return page(request, template, **context)


@router.get("/worklist.csv")
def worklist_csv(
    session: SessionDep,
    now: NowDep,
    signed=Depends(require(*EXPORT)),
    step: str | None = Query(None, max_length=40),
    navigator: str | None = Query(None, max_length=120),
    facility: str | None = FacilityQuery,
    late: str | None = Query(None, max_length=40),
    mine: bool = False,
):
    filters = _filters(step, navigator, facility, late, mine, signed.user)
    rows, _ = worklist(session, now, actor=signed.user.username, filters=filters, limit=100_000)
    audit(session, actor=signed.user.username, action="export.worklist", at=now, count=len(rows),
          case_ids=shown_case_ids(rows))  # fmt: skip
    session.commit()
    columns = ["case_id", "step_id", "step", "laterality", "due_at", *WINDOW_FIELDS, "days_overdue", "alert_level",
               "case_status", "birads", "navigator", "mrn", "patient"]  # fmt: skip
    return Response(csv_text(columns, (row.as_dict() for row in rows)), media_type="text/csv",
                    headers={"Content-Disposition": 'attachment; filename="worklist.csv"'})  # fmt: skip
