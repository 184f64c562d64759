"""The outcomes audit page (/reports/outcomes), its CSV and its PDF: radiologists, ops and admins.

The period is two dates on the centre's clock; a date that is not one, or an end before the start,
answers 422 with the GOV.UK error summary and no figures. Case ids only, never a patient's name or
MRN; each view and download is audited with the case ids it listed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from tracking.centre_time import zone_label
from tracking.reports.outcomes import DEFINITIONS, NOT_RECORDED, OutcomesReport, audit_shown, outcomes_report
from tracking.reports.outcomes_csv import outcomes_csv
from tracking.reports.pdf import html_to_pdf
from tracking.reports.period import Period, read_period
from tracking.settings import get_settings
from tracking.users.roles import OUTCOMES_AUDIT
from tracking.web.charts import Bar, Marker, RateBar, edges_buckets, for_print, histogram, position, rate_bars
from tracking.web.deps import NowDep, SessionDep, require
from tracking.web.form_problems import Problems
from tracking.web.templating import page, templates

router = APIRouter(include_in_schema=False)

FIELDS = {"from": "Start date", "to": "End date"}
DAYS_EDGES = (7, 14, 30, 60, 90)
VERDICT_STYLE = {"in range": "later", "below range": "late", "above range": "late", "no data": "soon"}


def rate_chart(report: OutcomesReport, key: str, title: str) -> str:
    benchmark = report.config.benchmarks[key]
    rows = [(group.name, getattr(group.figures, key)) for group in report.radiologists]
    rows.append(("Centre", getattr(report.centre, key)))
    bars = [RateBar(name, rate.percent, f"{rate.shown}, {rate.verdict}") for name, rate in rows]
    band = ((benchmark.low or 0) * 100, (benchmark.high if benchmark.high is not None else 1) * 100)
    return rate_bars(chart_id=f"chart-{key}", title=title, rows=bars, band=band,
                     band_label=f"benchmark {benchmark.range_text}")  # fmt: skip


def days_chart(report: OutcomesReport) -> str:
    measure = report.centre.to_diagnosis
    counts = [sum(1 for days in measure.days if low < days <= high)
              for low, high in zip((float("-inf"), *DAYS_EDGES), (*DAYS_EDGES, float("inf")), strict=True)]  # fmt: skip
    bars = [Bar(label, count) for label, count in zip(edges_buckets(DAYS_EDGES), counts, strict=True)]
    bars.append(Bar("awaiting", report.centre.awaiting_pathology, waiting=True, note="no result yet"))
    markers = []
    if measure.median is not None:
        markers.append(Marker(f"median {measure.median:g} days", position(measure.median, DAYS_EDGES), kind="median"))
    return histogram(chart_id="chart-days-to-diagnosis",
                     title="Days from the biopsy recommendation to the pathology result, centre",
                     bars=bars, markers=markers, x_label="days from recommendation to diagnosis")  # fmt: skip


@dataclass(frozen=True)
class Asked:
    """The period as typed in the form or the address (`from`, `to`), kept to show it again."""

    start: str = ""
    end: str = ""


def asked_period(start: str = Query("", alias="from"), end: str = Query("", alias="to")) -> Asked:
    return Asked(start, end)


AskedDep = Annotated[Asked, Depends(asked_period)]


def _period(asked: Asked) -> tuple[Period | None, Problems]:
    period, found = read_period(asked.start, asked.end, FIELDS)
    problems = Problems()
    for field, message in found.items():
        problems.add(field, message)
    return period, problems


def _form_page(request: Request, now, asked: Asked, problems: Problems, report: OutcomesReport | None):
    typed = (("from", asked.start.strip()), ("to", asked.end.strip()))
    query = urlencode({key: value for key, value in typed if value})
    context = {"nav": "outcomes", "now": now, "values": {"from": asked.start, "to": asked.end}, "problems": problems,
               "problem_list": problems.in_order(["from", "to"]), "report": report,
               "query": f"?{query}" if query else "", "zone_name": get_settings().timezone}  # fmt: skip
    if report is not None:
        context |= figures_context(report)
    return page(request, "outcomes.html", status_code=422 if problems else 200, **context)


def _answer(request: Request, session, now, signed, asked: Asked, action: str,
            respond: Callable[[OutcomesReport], Response]) -> Response:  # fmt: skip
    """The report for the period asked, answered by `respond` and audited; or the form with its problems (422)."""
    period, problems = _period(asked)
    if period is None:
        return _form_page(request, now, asked, problems, None)
    report = outcomes_report(session, period, now)
    answer = respond(report)  # first: a download that could not be made is not audited as shown
    audit_shown(session, report, actor=signed.user.username, action=action)
    return answer


def figures_context(report: OutcomesReport, printed: bool = False) -> dict:
    """What the page and the PDF (`printed`) show beside the report itself."""
    ink = for_print if printed else str
    return {
        "ppv2_chart": ink(rate_chart(report, "ppv2", "PPV2: cancers per biopsy recommended, against the benchmark")),
        "ppv3_chart": ink(rate_chart(report, "ppv3", "PPV3: cancers per biopsy performed, against the benchmark")),
        "days_chart": ink(days_chart(report)),
        "definitions": DEFINITIONS,
        "verdict_style": VERDICT_STYLE,
        "not_recorded": NOT_RECORDED,
        "zone_now": zone_label(report.generated_at),
    }


@router.get("/reports/outcomes")
def outcomes_page(request: Request, session: SessionDep, now: NowDep, asked: AskedDep,
                  signed=Depends(require(*OUTCOMES_AUDIT))):  # fmt: skip
    return _answer(request, session, now, signed, asked, "outcomes.viewed",
                   lambda report: _form_page(request, now, asked, Problems(), report))  # fmt: skip


def _download(body: bytes | str, media_type: str, period: Period, suffix: str) -> Response:
    dates = period.as_dict()
    filename = f"outcomes-audit-{dates['from'] or 'start'}-to-{dates['to'] or 'now'}.{suffix}"
    return Response(body, media_type=media_type, headers={"Content-Disposition": f'attachment; filename="{filename}"'})


@router.get("/reports/outcomes.csv")
def outcomes_csv_download(request: Request, session: SessionDep, now: NowDep, asked: AskedDep,
                          signed=Depends(require(*OUTCOMES_AUDIT))):  # fmt: skip
    return _answer(request, session, now, signed, asked, "export.outcomes_csv",
                   lambda report: _download(outcomes_csv(report), "text/csv", report.period, "csv"))  # fmt: skip


def pdf_of(report: OutcomesReport) -> bytes:
    settings = get_settings()
    html = templates.get_template("outcomes_pdf.html").render(
        report=report, centre_name=settings.centre_name, zone_name=settings.timezone, **figures_context(report, True)
    )
    return html_to_pdf(html)


@router.get("/reports/outcomes.pdf")
def outcomes_pdf_download(request: Request, session: SessionDep, now: NowDep, asked: AskedDep,
                          signed=Depends(require(*OUTCOMES_AUDIT))):  # fmt: skip
    return _answer(request, session, now, signed, asked, "export.outcomes_pdf",
                   lambda report: _download(pdf_of(report), "application/pdf", report.period, "pdf"))  # fmt: skip
