"""The pathway's safety guards G1-G6 (the seed's "critical pitfalls"), in a navigator's words."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tracking.pathway.decision import CaseState, Refusal
from tracking.pathway.definition import EventRule, Pathway
from tracking.pathway.fields import FieldRefused
from tracking.pathway.vocabulary import FindingType, StepKind

SUSPICIOUS_CONCERN = "high"
LOW_CATEGORIES = {"1", "2", "3"}
GROWTH = {"increased", "new_features"}
BIOPSY_EVENTS = {"biopsy_scheduled", "biopsy_performed"}


def breast(case: CaseState) -> str:
    return "both breasts" if case.laterality == "bilateral" else f"the {case.laterality} breast"


def refuse(guard: str, message: str, field: str | None = None) -> FieldRefused:
    return FieldRefused(Refusal(message, guard=guard, field=field))


def magnification_done(case: CaseState) -> bool:
    return case.has_completed(StepKind.magnification_views)


def g1_magnification_before_biopsy(
    pathway: Pathway, case: CaseState, rule: EventRule, data: dict[str, Any], warnings: list[str]
) -> None:
    if case.finding_type != FindingType.calcifications or magnification_done(case):
        return
    raise refuse(
        "G1",
        f"Magnification views of {breast(case)} are not done yet. A biopsy for calcifications cannot be "
        "scheduled or recorded until spot-magnification views (CC and true lateral) have been done and read.",
    )


def g2_ultrasound_never_characterises(
    pathway: Pathway, case: CaseState, rule: EventRule, data: dict[str, Any], warnings: list[str]
) -> None:
    if case.finding_type != FindingType.calcifications:
        return
    if rule.kind == "ultrasound_result" and ("birads" in data or "morphology" in data):
        raise refuse(
            "G2",
            "Ultrasound cannot characterise calcifications, so an ultrasound read cannot carry their BI-RADS "
            "assessment or morphology. Record the ultrasound findings only; the calcifications are "
            "assessed on the magnification views.",
            field="birads" if "birads" in data else "morphology",
        )
    modality = data.get("modality")
    if rule.kind == "magnification_result" and modality and modality.lower() != "mammography":
        raise refuse(
            "G2",
            f"Magnification views are mammographic; a {modality} study cannot complete them. "
            "Record the ultrasound as an ultrasound result instead.",
            field="modality",
        )
    if data.get("guidance") == "ultrasound":
        raise refuse(
            "G2",
            "Calcifications cannot be biopsied under ultrasound guidance: ultrasound does not show them "
            "reliably. Use stereotactic guidance, or record that stereotactic biopsy is not feasible.",
            field="guidance",
        )
    if rule.kind == "assessment" and data.get("birads") != "0" and not magnification_done(case):
        raise refuse(
            "G2",
            f"Magnification views of {breast(case)} are not done yet. Calcifications are characterised on "
            "magnification views, never by ultrasound alone; record the magnification views first.",
        )


def g3_specimen_radiograph(
    pathway: Pathway, case: CaseState, rule: EventRule, data: dict[str, Any], warnings: list[str]
) -> None:
    if rule.kind != "biopsy_performed" or data.get("procedure") != "stereotactic":
        return
    if data.get("specimen_radiograph") != "calcifications_confirmed":
        raise refuse(
            "G3",
            "A stereotactic biopsy cannot be marked done until a specimen radiograph confirms calcifications "
            "in the cores. Record the specimen radiograph, take more cores, or record that stereotactic "
            "biopsy is not feasible.",
            field="specimen_radiograph",
        )
    if data.get("cores", 0) < 2:
        warnings.append("Multiple cores are expected for calcifications; fewer than two were recorded.")
    if data.get("site_marker") in (None, "none"):
        warnings.append("No clip placed and no calcifications left: the site may be hard to localise for excision.")


def g4_priors_reason(
    pathway: Pathway, case: CaseState, rule: EventRule, data: dict[str, Any], warnings: list[str]
) -> None:
    reason = data.get("reason")
    if rule.kind == "prior_films_unobtainable" and (not isinstance(reason, str) or len(reason.strip()) < 3):
        raise refuse(
            "G4",
            "Prior films can only be declared unobtainable with a reason (e.g. 'facility closed, records "
            "destroyed'). Until then they must be chased.",
            field="reason",
        )


def recorded_morphology(case: CaseState) -> str | None:
    """The latest morphology recorded on this case, unless tissue diagnosis has answered it since."""
    for entry in reversed(case.history):
        if entry.kind == "pathology_result":
            return None
        morphology = entry.payload.get("morphology")
        if morphology:
            return str(morphology)
    return None


def g5_assessment_matches_morphology(
    pathway: Pathway, case: CaseState, rule: EventRule, data: dict[str, Any], warnings: list[str]
) -> None:
    birads = data.get("birads")
    if birads not in LOW_CATEGORIES:
        return
    if data.get("change") in GROWTH and not data.get("override_reason"):
        raise refuse(
            "G5",
            f"BI-RADS {birads} conflicts with calcifications that have {data['change'].replace('_', ' ')}: growth "
            "or new suspicious features mean an upgrade to BI-RADS 4 or 5. Record an override reason to keep "
            "this assessment, or change the assessment.",
            field="override_reason",
        )
    morphology: str | None = data.get("morphology") or recorded_morphology(case)
    concern = pathway.morphology_concern(morphology)
    if concern is None or morphology is None:  # no morphology has no concern
        return
    words = morphology.replace("_", " ")
    if concern == SUSPICIOUS_CONCERN:
        if not data.get("override_reason"):
            raise refuse(
                "G5",
                f"BI-RADS {birads} conflicts with {words} calcifications, which are suspicious. Record an "
                "override reason to keep this assessment, or change the assessment.",
                field="override_reason",
            )
        warnings.append(f"BI-RADS {birads} recorded against {words} morphology; override reason recorded.")
    elif concern == "intermediate":
        warnings.append(
            f"The BI-RADS lexicon usually places {words} calcifications at 4B; BI-RADS {birads} was recorded. "
            "The radiologist's assessment stands; this is flagged for review."
        )


def g6_infeasible_reason(
    pathway: Pathway, case: CaseState, rule: EventRule, data: dict[str, Any], warnings: list[str]
) -> None:
    reasons = pathway.vocabularies["stereotactic_infeasible_reasons"]
    reason = str(data.get("reason") or "").strip().lower()
    if rule.kind == "stereotactic_infeasible" and reason not in reasons:
        listed = "; ".join(f"{key} ({text})" for key, text in reasons.items())
        raise refuse(
            "G6",
            f"Stereotactic biopsy can only be declared not feasible for one of these reasons: {listed}.",
            field="reason",
        )


Guard = Callable[[Pathway, CaseState, EventRule, dict[str, Any], list[str]], None]

GUARD_CHECKS: dict[str, Guard] = {
    "G1": g1_magnification_before_biopsy,
    "G2": g2_ultrasound_never_characterises,
    "G3": g3_specimen_radiograph,
    "G4": g4_priors_reason,
    "G5": g5_assessment_matches_morphology,
    "G6": g6_infeasible_reason,
}

# Guards whose refusal must win over a plain "field missing" message: they run on the raw data.
BEFORE_FIELD_CHECKS = ("G1", "G4", "G6")
