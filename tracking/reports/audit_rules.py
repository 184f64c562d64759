"""What the outcomes audit reads from each pathway file: which events are assessments, biopsies and
pathology results, which steps are a biopsy or its pathology review, and which diagnoses are malignant.

Nothing here names an event or a step: a pathway that adds an assessment event (an MRI read) or a
biopsy route is audited without a code change.

- An **assessment** is an event whose `then` runs `assessment_outcome` (the event's BI-RADS decides
  what follows): calcifications' magnification_result, assessment and followup_imaging_result;
  masses' diagnostic_mammogram_result, ultrasound_result, mri_result, assessment and
  followup_imaging_result. (A calcification ultrasound read carries no BI-RADS: guard G2.)
- A **biopsy** is an event that completes a step the file's `timeliness: biopsy` lists.
- A **pathology result** is an event the file's `timeliness: diagnosis: events` lists; the steps it
  completes (the radiology-pathology review) are the **review steps**.
- **Malignant** diagnoses are the `malignant` group of the `pathology` vocabulary.
"""

from __future__ import annotations

from dataclasses import dataclass

from tracking.cases.errors import ReportConfigError
from tracking.pathway.definition import Pathway

# The pathology result's categories (its `category` choices and the groups of the `pathology`
# vocabulary), most severe first: a case with several results is counted by its most severe.
SEVERITY = ("malignant", "high_risk", "benign")


@dataclass(frozen=True)
class AuditRules:
    assessments: frozenset[str]
    biopsies: frozenset[str]
    pathology: frozenset[str]
    biopsy_steps: frozenset[str]
    review_steps: frozenset[str]
    malignant: frozenset[str]

    @property
    def event_kinds(self) -> frozenset[str]:
        return self.assessments | self.biopsies | self.pathology


_CACHE: dict[tuple[str, int, str], AuditRules] = {}


def audit_rules(pathway: Pathway) -> AuditRules:
    key = (pathway.name, pathway.version, pathway.content_hash)
    if key not in _CACHE:
        _CACHE[key] = _rules(pathway)
    return _CACHE[key]


def _rules(pathway: Pathway) -> AuditRules:
    assessments = frozenset(
        kind for kind, rule in pathway.events.items() if any(step.name == "assessment_outcome" for step in rule.then)
    )
    biopsy_steps = frozenset(pathway.timeliness.get("biopsy", ()))
    biopsies = frozenset(kind for kind, rule in pathway.events.items() if set(rule.completes) & biopsy_steps)
    pathology = frozenset(pathway.timeliness.get("diagnosis", {}).get("events", ()))
    review_steps = frozenset(step for kind in pathology for step in pathway.events[kind].completes)
    groups = pathway.vocabularies.get("pathology", {})
    if not isinstance(groups, dict) or not set(groups) <= set(SEVERITY):
        raise ReportConfigError(
            f"pathway {pathway.name} version {pathway.version}: the pathology vocabulary must group its diagnoses "
            f"under {', '.join(SEVERITY)} for the outcomes audit"
        )
    malignant = frozenset(str(diagnosis) for diagnosis in groups.get("malignant", ()))
    return AuditRules(assessments, biopsies, pathology, biopsy_steps, review_steps, malignant)
