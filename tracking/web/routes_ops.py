"""The operations page: overdue counts, lost to follow-up, outstanding priors, timeliness; CSV exports.

Case ids only: no patient name or MRN appears on this page or in its exports.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from sqlmodel import func, select

from tracking.alerts.stuck_work import unresolved_stuck_work
from tracking.audit import audit
from tracking.cases.operations import (
    OVERDUE_BUCKETS,
    VIEWS,
    OverdueTable,
    Timeliness,
    histogram_counts,
    overdue_count_records,
    overdue_counts,
    timeliness,
    view_rows,
)
from tracking.cases.queries import shown_case_ids
from tracking.csv_safe import csv_text
from tracking.notify.models import Notification
from tracking.pathway.vocabulary import NotificationStatus
from tracking.runs.service import stuck_case_runs
from tracking.screening.queries import overdue_count
from tracking.settings import get_settings
from tracking.users.roles import EXPORT, OPERATIONS
from tracking.web.charts import Bar, Marker, edges_buckets, histogram, position
from tracking.web.deps import NowDep, SessionDep, require
from tracking.web.templating import page

router = APIRouter(include_in_schema=False)

STALLED_SHOWN = 100
EXPORTS = ("overdue", "lost_to_follow_up", "priors_outstanding", "case_timeliness", "overdue_counts")
IMAGING_TO_BIOPSY_EDGES = (7, 14, 21, 28)
FINDING_TO_DIAGNOSIS_EDGES = (15, 30, 45, 60, 90)


def imaging_to_biopsy_chart(measures: Timeliness) -> str:
    targets = measures.targets
    edges = IMAGING_TO_BIOPSY_EDGES
    measure = measures.imaging_to_biopsy
    counts = histogram_counts(measure.days, edges)
    bars = [Bar(label, count) for label, count in zip(edges_buckets(edges), counts, strict=True)]
    low, high = targets.napbc_observed_median_days
    target = targets.napbc_imaging_to_biopsy_days
    markers = [
        Marker(f"NAPBC target {target} days", position(target, edges)),
        Marker(f"observed median {low}–{high} days", position(low, edges), position(high, edges), kind="band"),
    ]
    if measure.median is not None:
        markers.append(Marker(f"our median {measure.median:.1f} days", position(measure.median, edges), kind="median"))
    return histogram(
        chart_id="chart-imaging-biopsy",
        title="Days from diagnostic imaging to biopsy, against the NAPBC 7-day target",
        bars=bars,
        markers=markers,
        x_label="days from diagnostic imaging to biopsy",
    )


def finding_to_diagnosis_chart(measures: Timeliness) -> str:
    targets = measures.targets
    edges = FINDING_TO_DIAGNOSIS_EDGES
    measure = measures.finding_to_diagnosis
    limit = targets.cdc_finding_to_diagnosis_days
    counts = histogram_counts(measure.days, edges)
    bars = [Bar(label, count) for label, count in zip(edges_buckets(edges), counts, strict=True)]
    bars.append(Bar(f">{limit}", measure.waiting_past_limit, waiting=True, note="no diagnosis yet"))
    markers = [Marker(f"CDC limit {limit} days (no more than {targets.cdc_max_share_over:.0%} over)",
                      position(limit, edges))]  # fmt: skip
    if measure.median is not None:
        markers.append(Marker(f"our median {measure.median:.1f} days", position(measure.median, edges), kind="median"))
    return histogram(
        chart_id="chart-finding-diagnosis",
        title="Days from abnormal finding to diagnosis, against the CDC NBCCEDP 60-day limit",
        bars=bars,
        markers=markers,
        x_label="days from abnormal finding to diagnosis",
    )


def share(part: int, whole: int) -> str:
    return f"{part / whole:.0%}" if whole else "–"


@router.get("/ops")
def ops_page(request: Request, session: SessionDep, now: NowDep, signed=Depends(require(*OPERATIONS))):
    table: OverdueTable = overdue_counts(session)
    lost = view_rows(session, "lost_to_follow_up")
    priors = view_rows(session, "priors_outstanding")
    measures = timeliness(session, now)
    stuck_runs = stuck_case_runs(session, now, waited_minutes=get_settings().run_stalled_after_minutes)
    dead_letters = session.exec(select(func.count()).where(Notification.status == NotificationStatus.dead)).one()
    stalled = unresolved_stuck_work(session, kinds=("case_stalled",), limit=STALLED_SHOWN)
    audit(session, actor=signed.user.username, action="ops.viewed", at=now, overdue=table.total, lost=len(lost),
          priors=len(priors), stalled=len(stalled),
          case_ids=shown_case_ids([*lost, *priors, *(item.run for item in stuck_runs), *stalled]),
          )  # fmt: skip
    session.commit()
    return page(
        request,
        "ops.html",
        nav="ops",
        now=now,
        overdue=table,
        buckets=[(key, label) for key, label, *_ in OVERDUE_BUCKETS],
        lost=lost,
        priors=priors,
        t=measures,
        share=share,
        imaging_chart=imaging_to_biopsy_chart(measures),
        diagnosis_chart=finding_to_diagnosis_chart(measures),
        exports=EXPORTS,
        stuck_runs=stuck_runs,
        dead_letters=dead_letters,
        stalled_after=get_settings().run_stalled_after_minutes,
        stalled=stalled,
        stalled_shown=STALLED_SHOWN,
        screening_overdue=overdue_count(session, now),
    )


def csv_response(filename: str, columns: Sequence[str], records: Iterable[dict[str, Any]]) -> Response:
    """A CSV download; cells go through tracking/csv_safe.py (no formula a spreadsheet would run)."""
    return Response(csv_text(columns, records), media_type="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})  # fmt: skip


@router.get("/ops/export/{name}.csv")
def ops_export(request: Request, name: str, session: SessionDep, now: NowDep, signed=Depends(require(*EXPORT))):
    if name not in EXPORTS:
        return page(request, "error.html", status_code=404, title="Not found",
                    message=f"There is no export called {name!r}. Exports: {', '.join(EXPORTS)}.")  # fmt: skip
    if name == "overdue_counts":
        table = overdue_counts(session)
        columns, records = OverdueTable.columns, overdue_count_records(table)
        count = len(table.rows)
    else:
        columns, records = VIEWS[name].columns, view_rows(session, name)
        count = len(records)
    shown = shown_case_ids(records) if "case_id" in columns else []  # overdue_counts are counts: no case
    audit(session, actor=signed.user.username, action=f"export.{name}", at=now, count=count, case_ids=shown)
    session.commit()
    return csv_response(f"{name}.csv", columns, records)
