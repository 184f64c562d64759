"""The outcomes audit as CSV: one row per interpreting radiologist, then one for the centre.

Written through tracking/csv_safe.py (no cell a spreadsheet would run as a formula). Case ids only.
"""

from __future__ import annotations

from typing import Any

from tracking.csv_safe import csv_text
from tracking.reports.outcome_figures import COUNTS, Figures, Rate
from tracking.reports.outcomes import OutcomesReport

COLUMNS = (
    "group", "radiologist", "name", "period_from", "period_to", *COUNTS,
    "ppv2", "ppv2_percent", "ppv2_verdict", "ppv2_benchmark", "ppv2_awaiting_pathology_in_denominator",
    "ppv3", "ppv3_percent", "ppv3_verdict", "ppv3_benchmark", "ppv3_awaiting_pathology_in_denominator",
    "days_to_diagnosis_cases", "days_to_diagnosis_median", "days_to_diagnosis_p90", "awaiting_pathology_case_ids",
)  # fmt: skip


def _rate(name: str, rate: Rate) -> dict[str, Any]:
    fraction = rate.fraction
    return {name: None if fraction is None else round(fraction, 4), f"{name}_percent": rate.percent,
            f"{name}_verdict": rate.verdict, f"{name}_benchmark": rate.benchmark.range_text,
            f"{name}_awaiting_pathology_in_denominator": rate.awaiting_in_denominator}  # fmt: skip


def _row(report: OutcomesReport, group: str, username: str | None, name: str, figures: Figures,
         case_ids: list[int]) -> dict[str, Any]:  # fmt: skip
    period = report.period.as_dict()
    days = figures.to_diagnosis
    return {"group": group, "radiologist": username or "", "name": name, "period_from": period["from"] or "",
            "period_to": period["to"] or "", **figures.counts(), **_rate("ppv2", figures.ppv2),
            **_rate("ppv3", figures.ppv3), "days_to_diagnosis_cases": days.count,
            "days_to_diagnosis_median": days.median, "days_to_diagnosis_p90": days.p90,
            "awaiting_pathology_case_ids": " ".join(str(case_id) for case_id in case_ids)}  # fmt: skip


def outcomes_csv(report: OutcomesReport) -> str:
    rows = [_row(report, "radiologist", group.username, group.name, group.figures, list(group.awaiting_case_ids))
            for group in report.radiologists]  # fmt: skip
    rows.append(_row(report, "centre", None, "centre", report.centre, report.awaiting_case_ids))
    return csv_text(COLUMNS, rows)
