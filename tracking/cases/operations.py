"""Read queries for the operations page and its CSV exports.

Everything here reads the SQL views of migration 0003 (overdue_steps, lost_to_follow_up,
priors_outstanding, case_timeliness): they are the operations source of truth. They carry case
ids, never patient names, and they measure age against the database clock (now()).
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import text
from sqlmodel import Session

from tracking.pathway.vocabulary import CaseStatus

# How late an overdue step is, in whole days (the view's days_overdue). A step less than a day
# overdue has days_overdue 0 and counts in the first bucket.
OVERDUE_BUCKETS: tuple[tuple[str, str, int, int | None], ...] = (
    ("days_1_7", "1–7 days", 0, 7),
    ("days_8_30", "8–30 days", 8, 30),
    ("days_31_90", "31–90 days", 31, 90),
    ("over_90", "Over 90 days", 91, None),
)


@dataclass(frozen=True)
class View:
    """One view as the exports show it: its columns, in order, and how rows are sorted."""

    name: str
    columns: tuple[str, ...]
    order_by: str


VIEWS: dict[str, View] = {
    "overdue": View(
        "overdue_steps",
        ("case_id", "step_id", "step", "laterality", "step_status", "due_at", "scheduled_at", "days_overdue",
         "case_status", "birads", "opened_at", "navigator", "alert_level"),
        "days_overdue DESC, case_id, step_id",
    ),
    "lost_to_follow_up": View(
        "lost_to_follow_up",
        ("case_id", "opened_at", "birads", "navigator", "declared_at", "contact_attempts", "oldest_open_due_at"),
        "declared_at NULLS LAST, case_id",
    ),
    "priors_outstanding": View(
        "priors_outstanding",
        ("request_id", "case_id", "facility", "channel", "requested_at", "days_outstanding", "chase_count",
         "last_chased_at"),
        "days_outstanding DESC, request_id",
    ),
    "case_timeliness": View(
        "case_timeliness",
        ("case_id", "status", "abnormal_finding_at", "diagnostic_imaging_at", "biopsy_at", "diagnosis_at",
         "days_imaging_to_biopsy", "days_finding_to_diagnosis"),
        "case_id",
    ),
}  # fmt: skip


def view_rows(session: Session, key: str) -> list[dict[str, Any]]:
    """Every row of one view (`key` is a VIEWS key: never user text in SQL)."""
    view = VIEWS[key]
    query = text(f"SELECT {', '.join(view.columns)} FROM {view.name} ORDER BY {view.order_by}")
    return [dict(row._mapping) for row in session.execute(query)]


# --- overdue counts: step kind x how late -------------------------------------------------------


@dataclass
class OverdueRow:
    step: str
    counts: dict[str, int] = field(default_factory=lambda: {key: 0 for key, *_ in OVERDUE_BUCKETS})

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def as_dict(self) -> dict[str, Any]:
        return {"step": self.step, **self.counts, "total": self.total}


@dataclass
class OverdueTable:
    rows: list[OverdueRow]
    totals: OverdueRow

    @property
    def total(self) -> int:
        return self.totals.total

    columns = ("step", *(key for key, *_ in OVERDUE_BUCKETS), "total")  # of the CSV export


def _bucket_sql() -> str:
    cases = " ".join(
        f"WHEN days_overdue <= {upper} THEN '{key}'" for key, _, _, upper in OVERDUE_BUCKETS if upper is not None
    )
    last = next(key for key, _, _, upper in OVERDUE_BUCKETS if upper is None)
    return f"CASE {cases} ELSE '{last}' END"


def overdue_counts(session: Session) -> OverdueTable:
    """Open overdue steps counted by step kind and by how many days overdue, with totals."""
    query = text(
        f"SELECT step, {_bucket_sql()} AS bucket, count(*) AS n FROM overdue_steps GROUP BY 1, 2 ORDER BY 1, 2"
    )
    by_step: dict[str, OverdueRow] = {}
    totals = OverdueRow("total")
    for step, bucket, count in session.execute(query):
        row = by_step.setdefault(step, OverdueRow(step))
        row.counts[bucket] += count
        totals.counts[bucket] += count
    rows = sorted(by_step.values(), key=lambda row: (-row.total, row.step))
    return OverdueTable(rows, totals)


def overdue_count_records(table: OverdueTable) -> list[dict[str, Any]]:
    """The cross table as CSV records: one per step kind, then the totals row."""
    return [row.as_dict() for row in table.rows] + [table.totals.as_dict()]


# --- timeliness against NAPBC and CDC NBCCEDP ----------------------------------------------------


@dataclass(frozen=True)
class TimelinessTargets:
    """The published figures (docs: clinical-rules.md, "Timeliness")."""

    napbc_imaging_to_biopsy_days: int = 7  # NAPBC centers' target, diagnostic imaging -> biopsy
    napbc_observed_median_days: tuple[int, int] = (8, 9)  # NAPBC collaborative, observed median
    cdc_finding_to_diagnosis_days: int = 60  # CDC NBCCEDP: abnormal screening -> diagnosis
    cdc_max_share_over: float = 0.25  # ... no more than 25% of cases may take longer


DEFAULT_TARGETS = TimelinessTargets()


def configured_targets() -> TimelinessTargets:
    """The figures from settings (WORKUP_NAPBC_* and WORKUP_CDC_*); defaults are the published ones."""
    from tracking.settings import get_settings

    settings = get_settings()
    low, _, high = settings.napbc_observed_median_days.partition("-")
    return TimelinessTargets(
        napbc_imaging_to_biopsy_days=settings.napbc_imaging_to_biopsy_days,
        napbc_observed_median_days=(int(low), int(high or low)),
        cdc_finding_to_diagnosis_days=settings.cdc_finding_to_diagnosis_days,
        cdc_max_share_over=settings.cdc_max_share_over,
    )


@dataclass(frozen=True)
class Measure:
    """One timeliness measure: the intervals measured, and how they compare with the benchmark."""

    days: tuple[float, ...]  # completed intervals
    waiting_past_limit: int = 0  # still open, already past the limit (they cannot make it any more)

    @property
    def count(self) -> int:
        return len(self.days)

    @property
    def median(self) -> float | None:
        return statistics.median(self.days) if self.days else None

    def within(self, limit: float) -> int:
        return sum(1 for value in self.days if value <= limit)

    def over(self, limit: float) -> int:
        return sum(1 for value in self.days if value > limit) + self.waiting_past_limit

    @property
    def judged(self) -> int:
        """How many cases the share is taken over: the completed ones plus those already too late."""
        return self.count + self.waiting_past_limit


@dataclass(frozen=True)
class Verdict:
    meets: bool | None  # None: no data, nothing to judge
    text: str


@dataclass(frozen=True)
class Timeliness:
    targets: TimelinessTargets
    imaging_to_biopsy: Measure
    finding_to_diagnosis: Measure
    diagnosis_waiting: int  # active cases with no diagnosis yet, still inside the limit

    # (a) NAPBC: diagnostic imaging -> biopsy
    @property
    def napbc_within(self) -> int:
        return self.imaging_to_biopsy.within(self.targets.napbc_imaging_to_biopsy_days)

    @property
    def napbc_share_within(self) -> float | None:
        measure = self.imaging_to_biopsy
        return self.napbc_within / measure.count if measure.count else None

    @property
    def napbc_verdict(self) -> Verdict:
        median = self.imaging_to_biopsy.median
        target = self.targets.napbc_imaging_to_biopsy_days
        if median is None:
            return Verdict(None, "Not yet measurable: no case has both diagnostic imaging and a biopsy.")
        if median <= target:
            return Verdict(True, f"Meets the NAPBC target: the median of {median:.1f} days is within {target} days.")
        return Verdict(False, f"Misses the NAPBC target: the median of {median:.1f} days is over {target} days.")

    @property
    def napbc_against_observed(self) -> str:
        median = self.imaging_to_biopsy.median
        low, high = self.targets.napbc_observed_median_days
        if median is None:
            return ""
        if median < low:
            return f"Faster than the observed NAPBC median of {low}–{high} days."
        if median <= high:
            return f"In line with the observed NAPBC median of {low}–{high} days."
        return f"Slower than the observed NAPBC median of {low}–{high} days."

    # (b) CDC NBCCEDP: abnormal finding -> diagnosis
    @property
    def cdc_over(self) -> int:
        return self.finding_to_diagnosis.over(self.targets.cdc_finding_to_diagnosis_days)

    @property
    def cdc_share_over(self) -> float | None:
        judged = self.finding_to_diagnosis.judged
        return self.cdc_over / judged if judged else None

    @property
    def cdc_verdict(self) -> Verdict:
        share = self.cdc_share_over
        limit = self.targets.cdc_max_share_over
        days = self.targets.cdc_finding_to_diagnosis_days
        if share is None:
            return Verdict(None, f"Not yet measurable: no case has a diagnosis or has waited over {days} days.")
        words = f"{share:.0%} of cases took over {days} days (limit {limit:.0%})."
        if share <= limit:
            return Verdict(True, f"Meets the CDC limit: {words}")
        return Verdict(False, f"Misses the CDC limit: {words}")


def _days(value: Decimal | float | None) -> float | None:
    return None if value is None else float(value)


def timeliness(session: Session, now: datetime, targets: TimelinessTargets | None = None) -> Timeliness:
    """Both timeliness measures from the case_timeliness view.

    A case still without a diagnosis more than the CDC limit after its abnormal finding is counted
    as over the limit: leaving it out would make a service that loses patients look faster.
    """
    targets = targets or configured_targets()
    rows = view_rows(session, "case_timeliness")
    imaging = tuple(days for row in rows if (days := _days(row["days_imaging_to_biopsy"])) is not None)
    diagnosis = tuple(days for row in rows if (days := _days(row["days_finding_to_diagnosis"])) is not None)
    limit = timedelta(days=targets.cdc_finding_to_diagnosis_days)
    active = {CaseStatus.open.value, CaseStatus.lost_to_follow_up.value}
    undiagnosed = [row for row in rows if row["diagnosis_at"] is None and row["status"] in active]
    late = sum(1 for row in undiagnosed if now - row["abnormal_finding_at"] > limit)
    return Timeliness(
        targets=targets,
        imaging_to_biopsy=Measure(imaging),
        finding_to_diagnosis=Measure(diagnosis, waiting_past_limit=late),
        diagnosis_waiting=len(undiagnosed) - late,
    )


def histogram_counts(values: Iterable[float], edges: Sequence[float]) -> list[int]:
    """Counts per bucket: (-inf, e0], (e0, e1], ..., (e_last, inf)."""
    counts = [0] * (len(edges) + 1)
    for value in values:
        index = next((i for i, edge in enumerate(edges) if value <= edge), len(edges))
        counts[index] += 1
    return counts
