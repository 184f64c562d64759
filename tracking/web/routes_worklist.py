"""The patient worklist page: one row per case, most urgent first; filters, "my cases", paging, CSV.

The rows come from tracking/cases/patient_worklist.py; the query string is read by
tracking/web/worklist_filters.py, which never answers an error page (bad values are named and ignored).
"""

from __future__ import annotations

from typing import Any, cast
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from sqlmodel import Session, col, select

from tracking.alerts.stuck_work import OUTSIDE_WORK_ALERTS, unresolved_stuck_work
from tracking.audit import audit
from tracking.cases.models import Case, Patient
from tracking.cases.patient_worklist import MAX_PAGE, UNASSIGNED, CaseRow, Due, case_rows, worklist_page
from tracking.cases.queries import COUNT_CAP, LATENESS, shown_case_ids
from tracking.cases.windows import due_text
from tracking.csv_safe import csv_text
from tracking.pathway.definition import all_step_titles
from tracking.users.models import User
from tracking.users.roles import EXPORT
from tracking.users.service import Signed
from tracking.web.deps import NowDep, Reader, SessionDep, require
from tracking.web.presenters import lateness, side
from tracking.web.templating import page
from tracking.web.worklist_filters import (
    ALERTS,
    STATUSES,
    TASKS,
    VIEWS,
    WorklistQuery,
    birads_choices,
    facility_choices,
    navigator_choices,
    read_query,
)

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 50
STUCK_SHOWN = 20
CSV_LIMIT = 100_000
OUTCOMES = {
    "no_answer": "no answer",
    "left_message": "left a message",
    "wrong_number": "wrong number",
    "letter_sent": "letter sent",
    "reached": "reached",
    "rescheduled": "rescheduled",
}


def present(row: CaseRow) -> dict[str, Any]:
    """A case row in words: what is next and when, how late, the alert, the last contact."""
    due = row.overdue_since or row.next_due_at
    return {
        "row": row,
        "late": lateness(due, row.now) if due else None,
        "next": row.task_title if row.next_is_task else (row.step_title or ""),
        "next_is_task": row.next_is_task,
        "due": _due_text(row),
        "side": side(row.step_laterality),
        "contact": OUTCOMES.get(row.last_contact_outcome or "", (row.last_contact_outcome or "").replace("_", " ")),
    }


def _due_text(row: CaseRow) -> str:
    """The next action's due day; a follow-up step's window in words (tracking/cases/windows.py)."""
    if row.next_is_task or row.step_due_at is None:
        return f"{row.next_due_at:%Y-%m-%d}" if row.next_due_at else ""
    return due_text(Due(row.step_due_at, row.step_target_at))


def page_url(query: WorklistQuery, number: int) -> str:
    """The worklist URL of the same filters at page `number`."""
    params = {
        name: value for name, value in query.chosen.items() if value and not (name == "view" and value == "action")
    }
    return "/worklist?" + urlencode(params | {"page": str(number)})


def heading(total: int, query: WorklistQuery) -> str:
    """'37 cases need action', '1 case in all', 'More than 10,000 cases need action'."""
    count = f"More than {COUNT_CAP:,}" if total > COUNT_CAP else str(total)
    noun = "case" if total == 1 else "cases"
    if query.filters.needs_action:
        return f"{count} {noun} {'needs' if total == 1 else 'need'} action"
    return f"{count} open or lost {noun}"


def stuck_work_rows(
    session: Session, navigator: str | None, kinds: tuple[str, ...] = OUTSIDE_WORK_ALERTS
) -> list[dict[str, Any]]:
    """Unresolved alerts about a case, with the patient's name: outside work that never happened
    (dead letters, stalled runs) by default, or cases with nothing next (`("case_stalled",)`)."""
    stuck = unresolved_stuck_work(session, kinds=kinds, limit=STUCK_SHOWN)
    if not stuck:
        return []
    query = (
        select(Case.id, Patient.family_name, Patient.given_name, User.username)
        .join(Patient, col(Patient.id) == Case.patient_id)
        .join(User, col(User.id) == Case.navigator_id, isouter=True)
        .where(col(Case.id).in_({item.case_id for item in stuck}))
    )
    people = {case_id: (f"{family}, {given}", user) for case_id, family, given, user in session.exec(query)}
    return [
        {"alert": item, "patient": people[item.case_id][0]}
        for item in stuck
        if navigator is None or people[item.case_id][1] == navigator
    ]


@router.get("/worklist")
def worklist_view(request: Request, session: SessionDep, now: NowDep, signed: Reader) -> Response:
    username = signed.user.username
    query = read_query(request.query_params, session, username=username)
    found = worklist_page(session, now, query.filters, page=query.page, page_size=PAGE_SIZE)
    audit(session, actor=username, action="worklist.viewed", at=now, count=len(found.rows),
          case_ids=shown_case_ids(found.rows))  # fmt: skip
    mine_only = username if query.mine else None
    stuck = stuck_work_rows(session, mine_only)
    stalled = stuck_work_rows(session, mine_only, kinds=("case_stalled",))
    if stuck or stalled:  # the panels name patients too: their cases are shown as well
        audit(session, actor=username, action="worklist.stuck_viewed", at=now, count=len(stuck) + len(stalled),
              case_ids=shown_case_ids(item["alert"] for item in [*stuck, *stalled]))  # fmt: skip
    session.commit()  # the audit rows of this view
    if query.page > found.pages and found.pages < MAX_PAGE:
        query.messages.append(f"There is no page {query.page}; showing page {found.page}, the last.")
    export_params = {name: value for name, value in query.chosen.items() if value}
    context: dict[str, Any] = {
        "rows": [present(row) for row in found.rows],
        "stuck": stuck,
        "stalled": stalled,
        "found": found,
        "heading": heading(found.total, query),
        "capped": found.capped,
        "previous_url": page_url(query, found.page - 1) if found.page > 1 else None,
        "next_url": page_url(query, found.page + 1) if found.page < found.pages and found.rows else None,
        "filters": query.chosen,
        "mine": query.mine,
        "messages": query.messages,
        "step_kinds": dict(sorted(all_step_titles().items(), key=lambda item: item[1].lower())),
        "navigators": navigator_choices(session) | {UNASSIGNED: "Nobody (unassigned)"},
        "facilities": facility_choices(session),
        "lateness_choices": LATENESS,
        "birads_choices": birads_choices(),
        "statuses": STATUSES,
        "views": VIEWS,
        "alerts": ALERTS,
        "tasks": TASKS,
        "export_url": "/worklist.csv?" + urlencode(export_params) if export_params else "/worklist.csv",
        "now": now,
        "nav": "mine" if query.mine else "worklist",
    }
    template = "worklist_rows.html" if request.headers.get("HX-Request") else "worklist.html"
    return cast(Response, page(request, template, **context))


CSV_COLUMNS = ["case_id", "patient", "mrn", "age", "birads", "finding_type", "pathway", "case_status", "next_action",
               "next_due_at", "next_step", "next_step_due_at", "target_at", "window_opens_at", "window_closes_at",
               "booked_for", "days_overdue", "alert_level", "alert_acknowledged", "snoozed_until", "last_contact_at",
               "last_contact_outcome", "navigator", "open_tasks"]  # fmt: skip


@router.get("/worklist.csv")
def worklist_csv(
    request: Request, session: SessionDep, now: NowDep, signed: Signed = Depends(require(*EXPORT))
) -> Response:
    """The worklist as filtered, every page: one row per case, with the patient's name and MRN (PHI)."""
    query = read_query(request.query_params, session, username=signed.user.username)
    rows = case_rows(session, now, query.filters, offset=0, limit=CSV_LIMIT)
    audit(session, actor=signed.user.username, action="export.worklist", at=now, count=len(rows),
          case_ids=shown_case_ids(rows))  # fmt: skip
    session.commit()
    return Response(csv_text(CSV_COLUMNS, (row.as_dict() for row in rows)), media_type="text/csv",
                    headers={"Content-Disposition": 'attachment; filename="worklist.csv"'})  # fmt: skip
