"""The team page: each navigator's open, lost and overdue cases, unacknowledged alerts and tasks due.

Every number links to the worklist filtered to the cases it counts.
"""

from __future__ import annotations

from typing import cast
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response

from tracking.audit import audit
from tracking.cases.patient_worklist import UNASSIGNED
from tracking.cases.team import TeamRow, team_summary
from tracking.web.deps import NowDep, Reader, SessionDep
from tracking.web.templating import page

router = APIRouter(include_in_schema=False)

# Each column: its heading and the worklist filters of the cases it counts (every open or lost case).
COLUMNS = {
    "open_cases": ("Open cases", {"status": "open"}),
    "lost_cases": ("Lost to follow-up", {"status": "lost_to_follow_up"}),
    "overdue_cases": ("Cases with an overdue step", {"late": "overdue"}),
    "unacknowledged_alerts": ("Unacknowledged alerts", {"alert": "unacknowledged"}),
    "tasks_due": ("Tasks due today or overdue", {"task": "due"}),
}


def worklist_link(row: TeamRow, filters: dict[str, str]) -> str:
    return "/worklist?" + urlencode({"view": "all", "navigator": row.username or UNASSIGNED, **filters})


@router.get("/team")
def team_view(request: Request, session: SessionDep, now: NowDep, signed: Reader) -> Response:
    rows = team_summary(session, now)
    audit(session, actor=signed.user.username, action="team.viewed", at=now, count=len(rows))
    session.commit()
    table = [
        {
            "row": row,
            "cells": [(key, getattr(row, key), worklist_link(row, filters)) for key, (_, filters) in COLUMNS.items()],
        }  # fmt: skip
        for row in rows
    ]
    totals = {key: sum(getattr(row, key) for row in rows) for key in COLUMNS}
    return cast(Response, page(request, "team.html", table=table, columns=COLUMNS, totals=totals, now=now, nav="team"))
