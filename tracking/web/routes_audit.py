"""The audit page (administrators): who looked at or changed which case, and when; and its CSV.

Viewing or exporting the audit log is itself audited.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC
from math import ceil
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy import func, literal_column, or_
from sqlmodel import Session, col, select

from tracking.audit import AuditEntry, audit
from tracking.users.roles import ADMINISTER
from tracking.web.deps import NowDep, SessionDep, require
from tracking.web.routes_ops import csv_response
from tracking.web.templating import page

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 100
CSV_LIMIT = 1_000_000


@dataclass(frozen=True)
class AuditFilters:
    case_id: int | None = None
    actor: str | None = None
    action: str | None = None  # exact, or a prefix when it ends with '*' (e.g. "export.*")

    def apply(self, query):
        if self.case_id is not None:  # the case's own rows, and list views and exports that showed it
            query = query.where(or_(AuditEntry.case_id == self.case_id, showed_case(self.case_id)))
        if self.actor:
            query = query.where(func.lower(AuditEntry.actor) == self.actor.lower())
        if self.action:
            if self.action.endswith("*"):
                prefix = self.action.rstrip("*").replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
                query = query.where(col(AuditEntry.action).like(prefix + "%", escape="\\"))
            else:
                query = query.where(AuditEntry.action == self.action)
        return query

    def as_detail(self) -> dict:
        """For the audit row of a view: filter_case, filter_actor, filter_action (when set)."""
        named = {"filter_case": self.case_id, "filter_actor": self.actor, "filter_action": self.action}
        return {key: value for key, value in named.items() if value not in (None, "")}


def showed_case(case_id: int):
    """`detail -> 'case_ids' @> [case_id]`: list views and exports that showed the case.

    Written with `->` (not the jsonb subscript SQLAlchemy would render) so that an expression index
    `USING gin ((detail -> 'case_ids') jsonb_path_ops)` can answer it.
    """
    shown = col(AuditEntry.detail).op("->")(literal_column("'case_ids'"))
    return shown.op("@>")(func.jsonb_build_array(case_id))


def parse_filters(case: str, actor: str, action: str) -> tuple[AuditFilters, str | None]:
    """Filters from the form's text fields; an unusable case id is reported, not a 422."""
    case = case.strip()
    error = None
    case_id = None
    if case:
        if case.isdigit() and int(case) > 0:
            case_id = int(case)
        else:
            error = f"A case id is a whole number, not {case[:40]!r}."
    return AuditFilters(case_id, actor.strip()[:120] or None, action.strip()[:60] or None), error


def find_entries(session: Session, filters: AuditFilters, *, offset: int, limit: int) -> tuple[list[AuditEntry], int]:
    total = session.exec(filters.apply(select(func.count()).select_from(AuditEntry))).one()
    query = filters.apply(select(AuditEntry)).order_by(col(AuditEntry.at).desc(), col(AuditEntry.id).desc())
    return list(session.exec(query.offset(offset).limit(limit))), total


CASE_IDS_SHOWN = 12


def detail_text(detail: dict | None) -> str:
    def text(key: str, value) -> str:
        if key == "case_ids" and isinstance(value, list) and len(value) > CASE_IDS_SHOWN:  # a big page's list
            return f"{key}=[{', '.join(map(str, value[:CASE_IDS_SHOWN]))}, … {len(value)} cases]"
        return f"{key}={value}"

    return ", ".join(text(key, value) for key, value in (detail or {}).items())


def present(entry: AuditEntry) -> dict:
    return {
        "id": entry.id,
        "at": entry.at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S"),
        "actor": entry.actor,
        "action": entry.action,
        "case_id": entry.case_id,
        "detail": detail_text(entry.detail),
    }


def page_url(request: Request, number: int) -> str:
    params = dict(request.query_params)
    params["page"] = str(number)
    return "/audit?" + urlencode(params)


@router.get("/audit")
def audit_page(
    request: Request,
    session: SessionDep,
    now: NowDep,
    signed=Depends(require(*ADMINISTER)),
    case: str = "",
    actor: str = "",
    action: str = "",
    page_number: int = Query(1, alias="page", ge=1),
):
    filters, error = parse_filters(case, actor, action)
    if error:
        entries, total = [], 0
    else:
        entries, total = find_entries(session, filters, offset=(page_number - 1) * PAGE_SIZE, limit=PAGE_SIZE)
    actions = list(session.exec(select(AuditEntry.action).distinct().order_by(AuditEntry.action)))
    # recorded after the query, so this view shows up on the next one
    audit(session, actor=signed.user.username, action="audit.viewed", at=now, page=page_number,
          **filters.as_detail())  # fmt: skip
    session.commit()
    pages = max(1, ceil(total / PAGE_SIZE))
    query = urlencode({key: value for key, value in (("case", case), ("actor", actor), ("action", action)) if value})
    return page(
        request,
        "audit.html",
        nav="audit",
        entries=[present(entry) for entry in entries],
        total=total,
        page=page_number,
        pages=pages,
        previous_url=page_url(request, page_number - 1) if page_number > 1 else None,
        next_url=page_url(request, page_number + 1) if page_number < pages else None,
        filters={"case": case, "actor": actor, "action": action},
        actions=actions,
        error=error,
        csv_url="/audit.csv" + (f"?{query}" if query else ""),
    )


@router.get("/audit.csv")
def audit_csv(
    request: Request,
    session: SessionDep,
    now: NowDep,
    signed=Depends(require(*ADMINISTER)),
    case: str = "",
    actor: str = "",
    action: str = "",
):
    filters, error = parse_filters(case, actor, action)
    if error:
        return page(request, "error.html", status_code=422, title="Invalid request", message=error)
    entries, _ = find_entries(session, filters, offset=0, limit=CSV_LIMIT)
    audit(session, actor=signed.user.username, action="export.audit", at=now, count=len(entries),
          case_ids=sorted({entry.case_id for entry in entries if entry.case_id is not None}),
          **filters.as_detail())  # fmt: skip
    session.commit()
    records = [
        {"id": entry.id, "at": entry.at.astimezone(UTC), "actor": entry.actor, "action": entry.action,
         "case_id": entry.case_id, "detail": json.dumps(entry.detail or {}, sort_keys=True)}
        for entry in entries
    ]  # fmt: skip
    return csv_response("audit.csv", ("id", "at", "actor", "action", "case_id", "detail"), records)
