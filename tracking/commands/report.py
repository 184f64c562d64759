"""`workup report outcomes`: the MQSA medical outcomes audit, per interpreting radiologist and for the
centre, with the benchmark ranges beside the figures. Case ids only, never patient names or MRNs."""

from __future__ import annotations

from pathlib import Path

import typer

from tracking.centre_time import shown_date
from tracking.commands.common import actor, console, now_or, print_json, table
from tracking.commands.letters import checked_out, write_pdf
from tracking.db import session_scope
from tracking.reports.outcome_figures import Figures
from tracking.reports.outcomes import DEFINITIONS, OutcomesReport, audit_shown, outcomes_report
from tracking.reports.outcomes_csv import outcomes_csv
from tracking.reports.period import period_or_refuse
from tracking.settings import get_settings

app = typer.Typer(help="Reports from the cases tracked: the MQSA medical outcomes audit.", no_args_is_help=True)

DAY_HELP = "YYYY-MM-DD on the centre's clock (WORKUP_TIMEZONE)"
ROWS = (
    ("Recalls worked up", "recalls_worked_up"),
    ("Biopsies recommended (BI-RADS 4-5)", "biopsies_recommended"),
    ("Biopsies performed", "biopsies_performed"),
    ("Cancers", "cancers"),
    ("  DCIS", "dcis"),
    ("  Invasive", "invasive"),
    ("High-risk lesions", "high_risk"),
    ("Benign biopsies", "benign"),
    ("Biopsied, result owed", "biopsied_awaiting_result"),
    ("Awaiting pathology", "awaiting_pathology"),
    ("No biopsy planned any more", "no_biopsy_planned"),
)


@app.command("outcomes")
def outcomes(
    start: str | None = typer.Option(None, "--from", help=f"First day of the period, {DAY_HELP}"),
    end: str | None = typer.Option(None, "--to", help=f"Last day of the period (included), {DAY_HELP}"),
    as_json: bool = typer.Option(False, "--json", help="JSON for scripts"),
    csv_file: Path | None = typer.Option(None, "--csv", help="Also write the figures to FILE as CSV"),
) -> None:
    """The MQSA medical outcomes audit: recalls worked up, biopsies, cancers, PPV2 and PPV3 per radiologist
    and for the centre, and the cases still awaiting pathology. Without --from/--to: every case tracked."""
    period = period_or_refuse(start, end)  # before the transaction: a refused report writes nothing
    path = checked_out(csv_file) if csv_file is not None else None
    with session_scope() as session:
        report = outcomes_report(session, period, now_or(None))
        audit_shown(session, report, actor=actor(), action="outcomes.reported")
        if path is not None:  # inside the transaction: no audit row for a file that could not be written
            write_pdf(path, outcomes_csv(report).encode("utf-8"))
    if as_json:
        print_json(report.as_dict())
        return
    show(report)


def _rate_text(rate) -> str:
    note = f"; {rate.awaiting_note}" if rate.awaiting_note else ""
    return f"{rate.shown}, {rate.verdict}{note}"


def _days_text(figures: Figures) -> str:
    days = figures.to_diagnosis
    if not days.count:
        return "no result yet"
    return f"median {days.median:g}, 90th percentile {days.p90:g} ({days.count} case{'s' if days.count != 1 else ''})"


def show(report: OutcomesReport) -> None:
    zone = get_settings().timezone
    console.print(f"MQSA medical outcomes audit: {report.period.label} ({zone})", markup=False)
    groups = [(group.name, group.figures) for group in report.radiologists] + [("Centre", report.centre)]
    benchmarks = report.config.benchmarks
    grid = table("Figures by interpreting radiologist", ["Figure", *(name for name, _ in groups), "Benchmark"])
    for title, name in ROWS:
        grid.add_row(title, *(str(getattr(figures, name)) for _, figures in groups), "")
    grid.add_row("PPV2", *(_rate_text(figures.ppv2) for _, figures in groups), benchmarks["ppv2"].range_text)
    grid.add_row("PPV3", *(_rate_text(figures.ppv3) for _, figures in groups), benchmarks["ppv3"].range_text)
    grid.add_row("Days to diagnosis", *(_days_text(figures) for _, figures in groups), "")
    console.print(grid)
    if report.awaiting:
        columns = ["Case", "Radiologist", "Recommended", "BI-RADS", "Stands", "Status", "Days waiting"]
        waiting = table(f"Awaiting pathology ({len(report.awaiting)})", columns)
        for case in report.awaiting:
            waiting.add_row(str(case.case_id), case.radiologist, shown_date(case.recommended_at), case.birads,
                            case.standing.value, case.status.replace("_", " "), f"{case.days_waiting:.0f}")  # fmt: skip
        console.print(waiting)
    else:
        console.print("Awaiting pathology: none.")
    console.print("Not available from the tracker:")
    for item in report.not_available:
        benchmark = f" (benchmark {item.benchmark.range_text})" if item.benchmark else ""
        console.print(f"  {item.title}{benchmark}: {item.reason}", markup=False)
    console.print("How cases count:")
    for term, meaning in DEFINITIONS:
        console.print(f"  {term}: {meaning}", markup=False)
    console.print(f"Benchmarks: {report.config.path} ({benchmarks['ppv2'].source}).", markup=False)
