"""The MQSA medical outcomes audit (21 CFR 900.12(f)) from the cases the product tracks: per period,
per interpreting radiologist and for the centre (`workup report outcomes`, /reports/outcomes).

How a case counts (once, by its first BI-RADS 4 or 5 assessment; repeat biopsies; BI-RADS 6) is
written in tracking/reports/case_outcome.py, the figures in outcome_figures.py, what is read from
each pathway file in audit_rules.py. Here: reading the cases from the database and grouping them.

- **Period**: a case is in the period when its audit assessment happened in it (whole days on the
  centre's clock, tracking/reports/period.py).
- **Interpreting radiologist**: the user who recorded the audit assessment, when that user is a
  radiologist (users.role now); anything else (a navigator entering the read, the command line, an
  interface) is "not recorded". The radiologists' figures add up to the centre's.
- **Not available**: figures that need every examination read, or the surgical pathology, which the
  tracker does not hold, are listed with the reason and never estimated.

Case ids only: no patient name or MRN is read or returned.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, text
from sqlmodel import Session

from tracking.audit import audit
from tracking.cases.errors import ReportConfigError
from tracking.pathway.definition import all_pathways, pathways_dir
from tracking.pathway.vocabulary import OPEN_STEP_STATUSES
from tracking.reports.audit_rules import AuditRules, audit_rules
from tracking.reports.case_outcome import AuditEvent, CaseOutcome, Happening, Standing, case_outcome
from tracking.reports.outcome_figures import Figures, figures
from tracking.reports.outcomes_config import Benchmark, OutcomesConfig, check_in_situ, load_outcomes_config
from tracking.reports.period import Period
from tracking.users.roles import Role

NOT_RECORDED = "not recorded"
OPENING = "case_opened"


@dataclass(frozen=True)
class Unavailable:
    key: str
    title: str
    reason: str
    benchmark: Benchmark | None

    def as_dict(self) -> dict[str, Any]:
        return {"figure": self.key, "title": self.title, "available": False, "reason": self.reason,
                "benchmark": self.benchmark.as_dict() if self.benchmark else None}  # fmt: skip


# (key, title, why the tracker cannot compute it honestly)
NOT_AVAILABLE = (
    ("abnormal_interpretation_rate", "Abnormal interpretation rate",
     "It needs every examination read in the period as its denominator; the tracker holds only the cases "
     "opened for an abnormal finding."),
    ("cancer_detection_rate", "Cancer detection rate",
     "It needs the number of all examinations read in the period (cancers per 1,000 examinations); the tracker "
     "holds only the abnormal ones."),
    ("sensitivity_specificity", "Sensitivity, specificity and false negatives",
     "They need cancers found within a year of a negative examination (a tumour registry link); the tracker "
     "follows abnormal findings only."),
    ("minimal_cancers", "Minimal cancers (invasive 1 cm or less, or DCIS)",
     "It needs the invasive tumour size from the surgical pathology, which the tracker does not record."),
    ("node_negative", "Node-negative invasive cancers",
     "It needs the nodal status from the surgical pathology, which the tracker does not record."),
)  # fmt: skip

# One line each, shown on the page, in the PDF and by the command (the docstrings say it in full).
DEFINITIONS = (
    ("Case", "Each workup of one finding counts once, in the period of its biopsy recommendation (or, without "
     "one, of its first final assessment)."),
    ("Recall worked up", "A case with a final assessment (BI-RADS 1 to 5; 0 is incomplete)."),
    ("Biopsy recommended", "The case's first assessment of BI-RADS 4, 4A, 4B, 4C or 5; later ones in the same "
     "case do not count again. It dates the case and names its radiologist (else the first final assessment)."),
    ("Biopsy performed", "A biopsy recorded after the recommendation. A repeat biopsy does not count twice: "
     "the case counts by its most severe result (malignant, then high-risk, then benign)."),
    ("Cancer", "A malignant pathology result after the recommendation: DCIS when every malignant result is in "
     "situ, else invasive. BI-RADS 6 is set from that result and is never counted as an assessment; a case "
     "opened at BI-RADS 6 (a known cancer) is not audited."),
    ("Awaiting pathology", "A biopsy or its pathology review is still to do (pending or scheduled), whatever the "
     "case's status."),
    ("Radiologist", "The user who recorded the recommendation (else the first final assessment) when that user "
     "is a radiologist; otherwise \"not recorded\"."),
    ("Days to diagnosis", "From the recommendation to the first pathology result of the case's final category; "
     "median and 90th percentile (nearest rank) of the cases with a result."),
    ("Not recorded by the tracker", "Upgrades found at surgical excision: a high-risk lesion or DCIS on core "
     "biopsy is counted as the biopsy found it."),
)  # fmt: skip


@dataclass(frozen=True)
class RadiologistFigures:
    username: str | None  # None: not recorded
    name: str
    figures: Figures
    awaiting_case_ids: tuple[int, ...]

    def as_dict(self) -> dict[str, Any]:
        return {"radiologist": self.username, "name": self.name, **self.figures.as_dict(),
                "awaiting_pathology_case_ids": list(self.awaiting_case_ids)}  # fmt: skip


@dataclass(frozen=True)
class AwaitingCase:
    case_id: int
    radiologist: str
    recommended_at: datetime
    birads: str
    standing: Standing
    status: str
    days_waiting: float

    def as_dict(self) -> dict[str, Any]:
        return {"case_id": self.case_id, "radiologist": self.radiologist,
                "recommended_at": self.recommended_at.isoformat(), "birads": self.birads,
                "stands": self.standing.value, "case_status": self.status,
                "days_waiting": round(self.days_waiting, 1)}  # fmt: skip


@dataclass(frozen=True)
class OutcomesReport:
    period: Period
    generated_at: datetime
    config: OutcomesConfig
    centre: Figures
    radiologists: tuple[RadiologistFigures, ...]
    awaiting: tuple[AwaitingCase, ...]
    not_available: tuple[Unavailable, ...]

    @property
    def awaiting_case_ids(self) -> list[int]:
        return sorted(case.case_id for case in self.awaiting)

    def as_dict(self) -> dict[str, Any]:
        from tracking.settings import get_settings

        return {
            "period": {**self.period.as_dict(), "timezone": get_settings().timezone, "label": self.period.label},
            "generated_at": self.generated_at.isoformat(),
            "benchmarks": {key: benchmark.as_dict() for key, benchmark in self.config.benchmarks.items()},
            "centre": {**self.centre.as_dict(), "awaiting_pathology_case_ids": self.awaiting_case_ids},
            "radiologists": [group.as_dict() for group in self.radiologists],
            "awaiting_pathology": [case.as_dict() for case in self.awaiting],
            "awaiting_pathology_case_ids": self.awaiting_case_ids,
            "not_available": [item.as_dict() for item in self.not_available],
            "definitions": dict(DEFINITIONS),
        }


def outcomes_report(
    session: Session, period: Period, now: datetime, config: OutcomesConfig | None = None
) -> OutcomesReport:
    """The audit for `period` as of `now`. Reads only; the caller audits what was shown (`audit_shown`)."""
    config = config or load_outcomes_config()
    rules = {(pathway.name, pathway.version): audit_rules(pathway) for pathway in all_pathways()}
    check_in_situ(config, frozenset().union(*(rule.malignant for rule in rules.values())))
    read = _case_outcomes(session, period, rules, config)
    outcomes = [outcome for outcome in read if period.contains(outcome.audit_at)]
    radiologists = _radiologists(session)
    groups: dict[str | None, list[CaseOutcome]] = defaultdict(list)
    for outcome in outcomes:
        groups[outcome.actor if outcome.actor in radiologists else None].append(outcome)
    ordered = sorted(groups, key=lambda key: (key is None, radiologists.get(key or "", "").lower(), key or ""))
    per_radiologist = tuple(
        RadiologistFigures(key, radiologists[key] if key else NOT_RECORDED, figures(groups[key], config.benchmarks),
                           tuple(sorted(case.case_id for case in groups[key] if case.awaiting)))
        for key in ordered
    )  # fmt: skip
    awaiting = tuple(
        AwaitingCase(case.case_id, radiologists.get(case.actor, NOT_RECORDED), case.audit_at, case.birads,
                     case.awaiting, case.status, max(0.0, (now - case.audit_at).total_seconds() / 86400))
        for case in sorted(outcomes, key=lambda case: (case.audit_at, case.case_id)) if case.awaiting
    )  # fmt: skip
    unavailable = tuple(Unavailable(key, title, why, config.benchmarks.get(key)) for key, title, why in NOT_AVAILABLE)
    return OutcomesReport(period, now, config, figures(outcomes, config.benchmarks), per_radiologist, awaiting,
                          unavailable)  # fmt: skip


def audit_shown(session: Session, report: OutcomesReport, *, actor: str, action: str) -> None:
    """One audit row naming the period and the case ids the report listed (those awaiting pathology)."""
    detail: dict[str, Any] = {**report.period.as_dict(), "cases_audited": report.centre.recalls_worked_up,
                              "case_ids": report.awaiting_case_ids}  # fmt: skip
    audit(session, actor=actor, action=action, at=report.generated_at, **detail)


# --- reading the cases -------------------------------------------------------------------------------------

EVENTS = """
    SELECT e.case_id, e.kind, e.actor, e.occurred_at, e.payload ->> 'birads' AS birads,
           e.payload ->> 'category' AS category, e.payload ->> 'diagnosis' AS diagnosis,
           c.pathway_name, c.pathway_version, c.status
    FROM case_events e JOIN cases c ON c.id = e.case_id
    WHERE e.kind IN :kinds AND e.case_id IN ({candidates})
    ORDER BY e.case_id, e.id
"""
OPEN_STEPS = """
    SELECT DISTINCT case_id, kind FROM steps
    WHERE status IN :open AND kind IN :step_kinds AND case_id IN ({candidates})
"""
# Cases with an assessment in the period: the audit assessment is one, so no audited case is missed
# (the exact test, on the audit assessment's moment, is made afterwards).
CANDIDATES = "SELECT case_id FROM case_events WHERE kind IN :assessments{period}"


def _candidates(period: Period) -> tuple[str, dict[str, Any]]:
    conditions, params = "", {}
    if period.start is not None:
        conditions += " AND occurred_at >= :start"
        params["start"] = period.start
    if period.end is not None:
        conditions += " AND occurred_at < :end"
        params["end"] = period.end
    return CANDIDATES.format(period=conditions), params


def _case_outcomes(
    session: Session, period: Period, rules: dict[tuple[str, int], AuditRules], config: OutcomesConfig
) -> list[CaseOutcome]:
    assessments = sorted(set().union(*(rule.assessments for rule in rules.values())))
    kinds = sorted(set().union(*(rule.event_kinds for rule in rules.values())) | {OPENING})
    step_kinds = sorted(set().union(*(rule.biopsy_steps | rule.review_steps for rule in rules.values())))
    if not assessments:
        return []
    candidates, params = _candidates(period)
    params |= {"assessments": assessments, "kinds": kinds, "step_kinds": step_kinds, "open": list(OPEN_STEP_STATUSES)}
    expanding: list[Any] = [bindparam(name, expanding=True) for name in ("assessments", "kinds", "step_kinds", "open")]
    events_query = text(EVENTS.format(candidates=candidates)).bindparams(*expanding[:2])
    steps_query = text(OPEN_STEPS.format(candidates=candidates)).bindparams(expanding[0], *expanding[2:])
    open_steps: dict[int, set[str]] = defaultdict(set)
    for row in session.execute(steps_query, {key: value for key, value in params.items() if key != "kinds"}):
        open_steps[row.case_id].add(row.kind)
    by_case: dict[int, list[Any]] = defaultdict(list)
    for row in session.execute(events_query, {key: value for key, value in params.items()
                                              if key not in ("step_kinds", "open")}):  # fmt: skip
        by_case[row.case_id].append(row)
    outcomes = []
    for case_id, rows in by_case.items():
        outcome = _one_case(case_id, rows, _rules_for(rules, rows[0]), open_steps[case_id], config)
        if outcome is not None:
            outcomes.append(outcome)
    return outcomes


def _rules_for(rules: dict[tuple[str, int], AuditRules], row: Any) -> AuditRules:
    found = rules.get((row.pathway_name, row.pathway_version))
    if found is None:
        raise ReportConfigError(
            f"case {row.case_id} is on pathway {row.pathway_name} version {row.pathway_version}, which is not in "
            f"{pathways_dir()} (every version cases use must stay there)"
        )
    return found


def _one_case(case_id: int, rows: list[Any], rules: AuditRules, open_steps: set[str],
              config: OutcomesConfig) -> CaseOutcome | None:  # fmt: skip
    opened_birads = "0"
    events: list[AuditEvent] = []
    for row in rows:
        birads = row.birads.strip().upper() if isinstance(row.birads, str) else None
        if row.kind == OPENING:
            opened_birads = birads or opened_birads
        elif row.kind in rules.assessments:
            events.append(AuditEvent(Happening.assessment, row.occurred_at, row.actor, birads=birads))
        elif row.kind in rules.pathology:
            events.append(AuditEvent(Happening.pathology, row.occurred_at, row.actor, category=row.category,
                                     diagnosis=row.diagnosis))  # fmt: skip
        elif row.kind in rules.biopsies:
            events.append(AuditEvent(Happening.biopsy, row.occurred_at, row.actor))
    return case_outcome(
        case_id,
        events,
        opened_birads=opened_birads,
        open_biopsy_step=bool(open_steps & rules.biopsy_steps),
        open_review_step=bool(open_steps & rules.review_steps),
        in_situ=config.in_situ,
        status=rows[0].status,
    )


def _radiologists(session: Session) -> dict[str, str]:
    """username -> display name, for every user whose role is radiologist (disabled ones too: they read then)."""
    query = text("SELECT username, display_name FROM users WHERE role = :role")
    return {row.username: row.display_name for row in session.execute(query, {"role": Role.radiologist.value})}
