"""The outcomes audit page (/reports/outcomes), its CSV and its PDF: radiologists, ops and admins.

The period is two dates on the centre's clock; a date that is not one, or an end before the start,
answers 422 with the GOV.UK error summary and no figures. Case ids only, never a patient's name or
MRN; each view and download is audited with the case ids it listed.
"""

from __future__ import annotations

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


def _period(start: str, end: str) -> tuple[Period | None, Problems]:
    period, found = read_period(start, end, FIELDS)
    problems = Problems()
    for field, message in found.items():
        problems.add(field, message)
    return period, problems


def _form_page(request: Request, now, start: str, end: str, problems: Problems, report: OutcomesReport | None):
    query = urlencode({key: value for key, value in (("from", start.strip()), ("to", end.strip())) if value})
    context = {"nav": "outcomes", "now": now, "values": {"from": start, "to": end}, "problems": problems,
               "problem_list": problems.in_order(["from", "to"]), "report": report,
               "query": f"?{query}" if query else "", "zone_name": get_settings().timezone}  # fmt: skip
    if report is not None:
        context |= figures_context(report)
    return page(request, "outcomes.html", status_code=422 if problems else 200, **context)


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
def outcomes_page(request: Request, session: SessionDep, now: NowDep, signed=Depends(require(*OUTCOMES_AUDIT)),
                  start: str = Query("", alias="from"), end: str = Query("", alias="to")):  # fmt: skip
    period, problems = _period(start, end)
    if period is None:
        return _form_page(request, now, start, end, problems, None)
    report = outcomes_report(session, period, now)
    audit_shown(session, report, actor=signed.user.username, action="outcomes.viewed")
    return _form_page(request, now, start, end, problems, report)


def _filename(period: Period, suffix: str) -> str:
    dates = period.as_dict()
    return f"outcomes-audit-{dates['from'] or 'start'}-to-{dates['to'] or 'now'}.{suffix}"


def _download(body: bytes | str, media_type: str, filename: str) -> Response:
    return Response(body, media_type=media_type, headers={"Content-Disposition": f'attachment; filename="{filename}"'})


@router.get("/reports/outcomes.csv")
def outcomes_csv_download(request: Request, session: SessionDep, now: NowDep,
                          signed=Depends(require(*OUTCOMES_AUDIT)), start: str = Query("", alias="from"),
                          end: str = Query("", alias="to")):  # fmt: skip
    period, problems = _period(start, end)
    if period is None:
        return _form_page(request, now, start, end, problems, None)
    report = outcomes_report(session, period, now)
    audit_shown(session, report, actor=signed.user.username, action="export.outcomes_csv")
    return _download(outcomes_csv(report), "text/csv", _filename(period, "csv"))


@router.get("/reports/outcomes.pdf")
def outcomes_pdf_download(request: Request, session: SessionDep, now: NowDep,
                          signed=Depends(require(*OUTCOMES_AUDIT)), start: str = Query("", alias="from"),
                          end: str = Query("", alias="to")):  # fmt: skip
    period, problems = _period(start, end)
    if period is None:
        return _form_page(request, now, start, end, problems, None)
    report = outcomes_report(session, period, now)
    settings = get_settings()
    html = templates.get_template("outcomes_pdf.html").render(
        report=report, centre_name=settings.centre_name, zone_name=settings.timezone, **figures_context(report, True)
    )
    pdf = html_to_pdf(html)
    audit_shown(session, report, actor=signed.user.username, action="export.outcomes_pdf")
    return _download(pdf, "application/pdf", _filename(period, "pdf"))
