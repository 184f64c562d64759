"""One case as the outcomes audit counts it: pure, from the case's assessments, biopsies and results.

The unit of the audit is the case (one workup of one finding), and **a case counts once**:

- **Recall worked up**: the case has a final assessment (BI-RADS 1 to 5; 0 is incomplete).
- **The recommendation** (biopsy recommended): the case's *first* assessment with BI-RADS 4, 4A,
  4B, 4C or 5, in the order the assessments were recorded. Later assessments of 4 or 5 in the same
  case (a re-read after priors, an upgraded follow-up) do not count again.
- **The audit assessment** dates the case and names its interpreting radiologist: the
  recommendation when there is one, else the first final assessment. A case is in a period when
  its audit assessment's moment is (on the centre's clock), so it is in one period only.
- **Biopsy performed**: a biopsy (or a pathology result) is recorded after the recommendation.
  **A repeat biopsy** (after a high-risk or discordant result, or a new suspicious finding on
  follow-up) does not count a second biopsy: the case is biopsied once, and its **result** is the
  most severe of its pathology results (malignant, then high-risk, then benign).
- **Cancer**: a malignant result after the recommendation; **DCIS** when every malignant result is
  an in-situ diagnosis (config/reports/outcomes.yaml), else **invasive**.
- **Diagnosis**: the first pathology result of the case's result category (for a cancer found on a
  repeat biopsy, the cancer's result); days are counted from the recommendation to it. A result
  dated before the recommendation (a back-dated entry) counts as 0 days.
- **BI-RADS 6** is never an assessment here: the pathway sets it on the case from a malignant
  pathology result, and an imaging read cannot record it. Cancers are counted from the pathology
  result, never from BI-RADS 6. A case opened at BI-RADS 6 (a cancer known before the workup) is
  not audited at all, as the ACR audit excludes known cancers.
- **Awaiting pathology**: the case still has a biopsy or a pathology review to do (a pending or
  scheduled biopsy step, or the radiology-pathology review step), whatever its status (a patient
  lost to follow-up stays on the list). A case with a result and a repeat biopsy ordered is awaiting
  again. **No biopsy planned any more**: recommended, never biopsied, nothing to do (a later
  assessment below 4 withdrew the recommendation, or another plan replaced it).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from tracking.cases.patient_worklist import SUSPICIOUS_BIRADS
from tracking.reports.audit_rules import SEVERITY

# BI-RADS 4 and 5: a biopsy is recommended. "4" undivided is accepted too (the lexicon's
# subdivision is optional for some modalities); the pathways' assessment vocabularies use 4A-4C.
BIOPSY_RECOMMENDED = frozenset({"4", *SUSPICIOUS_BIRADS})
INCOMPLETE = "0"
KNOWN_CANCER = "6"


class Happening(StrEnum):
    assessment = "assessment"
    biopsy = "biopsy"
    pathology = "pathology"


class Standing(StrEnum):
    """Where a case awaiting pathology stands."""

    biopsy_owed = "biopsy owed"
    result_owed = "biopsied, result owed"
    repeat_biopsy_owed = "repeat biopsy owed"


@dataclass(frozen=True)
class AuditEvent:
    """An assessment, biopsy or pathology result of one case, in the order it was recorded."""

    happening: Happening
    occurred_at: datetime
    actor: str
    birads: str | None = None  # assessments
    category: str | None = None  # pathology: malignant | high_risk | benign
    diagnosis: str | None = None  # pathology


@dataclass(frozen=True)
class CaseOutcome:
    case_id: int
    audit_at: datetime  # when the audit assessment happened
    actor: str  # who recorded it
    birads: str  # its BI-RADS
    recommended: bool
    biopsied: bool = False
    result: str | None = None  # the most severe pathology category after the recommendation
    cancer: str | None = None  # "dcis" | "invasive"
    diagnosed_at: datetime | None = None
    awaiting: Standing | None = None
    status: str = "open"  # the case's status

    @property
    def days_to_diagnosis(self) -> float | None:
        if self.diagnosed_at is None:
            return None
        return max(0.0, (self.diagnosed_at - self.audit_at).total_seconds() / 86400)


def case_outcome(
    case_id: int,
    events: Sequence[AuditEvent],
    *,
    opened_birads: str,
    open_biopsy_step: bool,
    open_review_step: bool,
    in_situ: Iterable[str],
    status: str = "open",
) -> CaseOutcome | None:
    """How the audit counts the case, or None when it is not audited (no final assessment yet, or
    opened at BI-RADS 6). `open_biopsy_step` / `open_review_step`: the case has a pending or
    scheduled biopsy step / pathology review step now."""
    if opened_birads == KNOWN_CANCER:
        return None
    final = [event for event in events if _final_assessment(event)]
    if not final:
        return None
    at = next((index for index, event in enumerate(events) if _recommends(event)), None)
    if at is None:
        first = final[0]
        return CaseOutcome(case_id, first.occurred_at, first.actor, str(first.birads), recommended=False, status=status)
    recommendation, after = events[at], events[at + 1 :]
    results = [event for event in after if event.happening == Happening.pathology and event.category in SEVERITY]
    biopsied = bool(results) or any(event.happening == Happening.biopsy for event in after)
    result = min((event.category for event in results), key=SEVERITY.index, default=None)
    deciding = [event for event in results if event.category == result]
    cancer = None
    if result == "malignant":
        cancer = "dcis" if all(event.diagnosis in set(in_situ) for event in deciding) else "invasive"
    return CaseOutcome(
        case_id,
        recommendation.occurred_at,
        recommendation.actor,
        str(recommendation.birads),
        recommended=True,
        biopsied=biopsied,
        result=result,
        cancer=cancer,
        diagnosed_at=deciding[0].occurred_at if deciding else None,
        awaiting=_standing(biopsied, bool(results), open_biopsy_step, open_review_step),
        status=status,
    )


def _final_assessment(event: AuditEvent) -> bool:
    return event.happening == Happening.assessment and event.birads is not None and event.birads != INCOMPLETE


def _recommends(event: AuditEvent) -> bool:
    return event.happening == Happening.assessment and event.birads in BIOPSY_RECOMMENDED


def _standing(biopsied: bool, has_result: bool, open_biopsy: bool, open_review: bool) -> Standing | None:
    if open_review:
        return Standing.result_owed
    if open_biopsy:
        return Standing.repeat_biopsy_owed if biopsied or has_result else Standing.biopsy_owed
    return None
