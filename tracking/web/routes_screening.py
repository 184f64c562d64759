"""The screening recall list page: routine screening handed off when a diagnostic case closed,
earliest due first, until it is done. Filters: overdue, or due within N days; paginated."""

from __future__ import annotations

from math import ceil
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request

from tracking.cases.errors import InvalidInput
from tracking.cases.queries import COUNT_CAP
from tracking.cases.windows import due_text
from tracking.screening.queries import MAX_DUE_WITHIN_DAYS, RecallFilters, screening_recall
from tracking.web.deps import NowDep, Reader, SessionDep
from tracking.web.presenters import lateness, side, step_title
from tracking.web.templating import page

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 50
DEFAULT_DAYS = 30
SHOWING = {"": "Everything handed off", "overdue": "Overdue", "within": "Due within (days)"}


def recall_filters(due: str, days: str) -> RecallFilters:
    """The form's choice as filters: everything, overdue only, or due within `days` (overdue included)."""
    if due == "overdue":
        return RecallFilters(overdue_only=True)
    if due == "within":
        if not days.isdigit() or int(days) > MAX_DUE_WITHIN_DAYS:
            raise InvalidInput(f"Due within takes a whole number of days from 0 to {MAX_DUE_WITHIN_DAYS}.")
        return RecallFilters(due_within_days=int(days))
    return RecallFilters()


def page_url(request: Request, number: int) -> str:
    params = dict(request.query_params)
    params["page"] = str(number)
    return "/screening?" + urlencode(params)


@router.get("/screening")
def screening_page(
    request: Request,
    session: SessionDep,
    now: NowDep,
    signed: Reader,
    due: str = Query("", pattern=r"^(|overdue|within)$", description="Everything, overdue, or due within DAYS"),
    days: str = Query(str(DEFAULT_DAYS), max_length=10, description="Days for 'due within'"),
    page_number: int = Query(1, alias="page", ge=1, le=1_000_000),
):
    error = None
    try:
        rows, total = screening_recall(session, now, actor=signed.user.username, filters=recall_filters(due, days),
                                       offset=(page_number - 1) * PAGE_SIZE, limit=PAGE_SIZE)  # fmt: skip
    except InvalidInput as invalid:
        rows, total, error = [], 0, str(invalid)
    session.commit()  # the audit row of this view
    pathway = None  # the rows mix pathways: titles come from every pathway file
    pages = max(1, ceil(total / PAGE_SIZE))
    context = {
        "rows": [
            {"row": row, "late": lateness(row.due_at, now), "title": step_title(pathway, row.kind),
             "side": side(row.laterality), "due": due_text(row)}
            for row in rows
        ],
        "total": total,
        "count_cap": COUNT_CAP,
        "page": page_number,
        "pages": pages,
        "previous_url": page_url(request, page_number - 1) if page_number > 1 else None,
        "next_url": page_url(request, page_number + 1) if page_number < pages else None,
        "filters": {"due": due, "days": days},
        "showing": SHOWING,
        "max_days": MAX_DUE_WITHIN_DAYS,
        "error": error,
        "now": now,
        "nav": "screening",
    }  # fmt: skip
    template = "screening_rows.html" if request.headers.get("HX-Request") else "screening.html"
    return page(request, template, **context)
