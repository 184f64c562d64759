"""The audit's figures for a group of cases (one radiologist's, or the centre's): pure sums over
CaseOutcome (tracking/reports/case_outcome.py says what each case counts as).

- PPV2 = cancers / biopsies recommended; PPV3 = cancers / biopsies performed (ACR BI-RADS audit).
  A rate with nothing to divide by is None ("no data"), never 0. Cases awaiting pathology are in
  both denominators and not (yet) in the numerator; `awaiting_in_denominator` says how many, so a
  reader knows the rate may still rise.
- Days from the recommendation to diagnosis: median, and the 90th percentile by nearest rank (the
  smallest value with at least 90% of the cases at or under it: "9 in 10 were diagnosed within N
  days"), over the cases with a result. Cases awaiting pathology are not in them yet.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from tracking.reports.case_outcome import CaseOutcome
from tracking.reports.outcomes_config import Benchmark


@dataclass(frozen=True)
class Rate:
    numerator: int
    denominator: int
    benchmark: Benchmark
    awaiting_in_denominator: int  # cases in the denominator still awaiting pathology

    @property
    def fraction(self) -> float | None:
        return self.numerator / self.denominator if self.denominator else None

    @property
    def percent(self) -> float | None:
        fraction = self.fraction
        return None if fraction is None else round(fraction * 100, 1)

    @property
    def verdict(self) -> str:
        return self.benchmark.judge(self.fraction)

    @property
    def shown(self) -> str:
        """'25.0% (3 of 12)' or 'no data (nothing to divide by)'."""
        if self.percent is None:
            return "no data (none in the denominator)"
        return f"{self.percent:.1f}% ({self.numerator} of {self.denominator})"

    @property
    def awaiting_note(self) -> str:
        if not self.awaiting_in_denominator:
            return ""
        count = self.awaiting_in_denominator
        return f"includes {count} case{'s' if count != 1 else ''} awaiting pathology"

    def as_dict(self) -> dict[str, object]:
        fraction = self.fraction
        return {
            "numerator": self.numerator,
            "denominator": self.denominator,
            "fraction": None if fraction is None else round(fraction, 4),
            "percent": self.percent,
            "verdict": self.verdict,
            "benchmark": self.benchmark.range_text,
            "awaiting_pathology_in_denominator": self.awaiting_in_denominator,
        }


@dataclass(frozen=True)
class Interval:
    days: tuple[float, ...]

    @property
    def count(self) -> int:
        return len(self.days)

    @property
    def median(self) -> float | None:
        return round(statistics.median(self.days), 1) if self.days else None

    @property
    def p90(self) -> float | None:
        return round(nearest_rank(self.days, 0.9), 1) if self.days else None

    def as_dict(self) -> dict[str, object]:
        return {"cases": self.count, "median_days": self.median, "p90_days": self.p90}


def nearest_rank(values: Sequence[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


COUNTS = (
    "recalls_worked_up",
    "biopsies_recommended",
    "biopsies_performed",
    "cancers",
    "dcis",
    "invasive",
    "high_risk",
    "benign",
    "biopsied_awaiting_result",
    "awaiting_pathology",
    "no_biopsy_planned",
)


@dataclass(frozen=True)
class Figures:
    recalls_worked_up: int
    biopsies_recommended: int
    biopsies_performed: int
    cancers: int
    dcis: int
    invasive: int
    high_risk: int
    benign: int
    biopsied_awaiting_result: int  # biopsied, no result yet
    awaiting_pathology: int  # a biopsy or its review still to do (repeat biopsies included)
    no_biopsy_planned: int  # recommended, never biopsied, nothing to do any more
    ppv2: Rate
    ppv3: Rate
    to_diagnosis: Interval

    def counts(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in COUNTS}

    def as_dict(self) -> dict[str, object]:
        return {**self.counts(), "ppv2": self.ppv2.as_dict(), "ppv3": self.ppv3.as_dict(),
                "days_to_diagnosis": self.to_diagnosis.as_dict()}  # fmt: skip


def figures(outcomes: Iterable[CaseOutcome], benchmarks: dict[str, Benchmark]) -> Figures:
    cases = list(outcomes)
    recommended = [case for case in cases if case.recommended]
    biopsied = [case for case in recommended if case.biopsied]
    cancers = [case for case in biopsied if case.result == "malignant"]
    awaiting = [case for case in recommended if case.awaiting is not None]
    return Figures(
        recalls_worked_up=len(cases),
        biopsies_recommended=len(recommended),
        biopsies_performed=len(biopsied),
        cancers=len(cancers),
        dcis=sum(1 for case in cancers if case.cancer == "dcis"),
        invasive=sum(1 for case in cancers if case.cancer == "invasive"),
        high_risk=sum(1 for case in biopsied if case.result == "high_risk"),
        benign=sum(1 for case in biopsied if case.result == "benign"),
        biopsied_awaiting_result=sum(1 for case in biopsied if case.result is None),
        awaiting_pathology=len(awaiting),
        no_biopsy_planned=sum(1 for case in recommended if not case.biopsied and case.awaiting is None),
        ppv2=Rate(len(cancers), len(recommended), benchmarks["ppv2"], len(awaiting)),
        ppv3=Rate(len(cancers), len(biopsied), benchmarks["ppv3"], sum(1 for case in awaiting if case.biopsied)),
        to_diagnosis=Interval(tuple(days for case in recommended if (days := case.days_to_diagnosis) is not None)),
    )
