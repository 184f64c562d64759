"""The safety guards G1-G6: each refuses with a navigator's words, and each has an allowed path.

Every refusal goes through `support.refuse`, which also checks that the MemoryCase state (and the
event data handed to the engine) is unchanged afterwards: refusals are never applied.
"""

from __future__ import annotations

import pytest

from tests.factories import BENIGN_MAG, PROBABLY_BENIGN_MAG, STEREOTACTIC_DONE, SUSPICIOUS_MAG, MemoryCase
from tracking.pathway.vocabulary import StepStatus

from .support import NOW, accept, days, refuse, step

MAG_AT = NOW + days(3)
LATER = MAG_AT + days(2)
SCHEDULE = {"procedure": "stereotactic", "guidance": "stereotactic", "scheduled_for": "2026-03-12T10:00:00+00:00"}
FIVE_REASONS = {
    "breast_too_small": "The breast is too small for the biopsy probe",
    "breast_too_thin": "The breast is too thin for the full throw of the device",
    "posterior_or_superficial": "The calcifications are very posterior or just under the skin",
    "widely_separated": "The calcifications are widely separated",
    "poorly_visualised": "Individual calcifications are not well visualised on stereotactic imaging",
}


def opened(pathway, **kwargs) -> MemoryCase:
    return MemoryCase.open(pathway, NOW, **kwargs)


def suspicious_case(pathway, **kwargs) -> MemoryCase:
    case = opened(pathway, **kwargs)
    accept(case, "magnification_result", SUSPICIOUS_MAG, MAG_AT)
    return case


# --- G1: no biopsy before magnification views ------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "data"),
    [
        ("biopsy_scheduled", SCHEDULE),
        ("biopsy_performed", STEREOTACTIC_DONE),
        ("stereotactic_infeasible", {"reason": "breast_too_thin"}),
        ("repeat_biopsy_ordered", {"reason": "discordant"}),
        # G1 wins over a plain "field missing" message
        ("biopsy_performed", {}),
        ("biopsy_scheduled", {"procedure": "stereotactic"}),
    ],
)
def test_g1_refuses_biopsy_before_magnification(pathway, kind, data):
    case = opened(pathway)
    refusal = refuse(case, kind, data, NOW + days(1))
    assert refusal.guard == "G1"
    assert "Magnification views of the left breast are not done yet" in refusal.message
    assert "biopsy" in refusal.message
    assert "spot-magnification views" in refusal.message
    assert str(refusal).startswith("G1: ")


@pytest.mark.parametrize(("laterality", "words"), [("right", "the right breast"), ("bilateral", "both breasts")])
def test_g1_names_the_breast(pathway, laterality, words):
    case = opened(pathway, laterality=laterality)
    refusal = refuse(case, "biopsy_scheduled", SCHEDULE, NOW + days(1))
    assert refusal.guard == "G1"
    assert f"Magnification views of {words} are not done yet" in refusal.message


def test_g1_still_applies_after_ultrasound_only(pathway):
    case = opened(pathway)
    accept(case, "ultrasound_result", {"findings": "no correlate"}, NOW + days(1))
    refusal = refuse(case, "biopsy_scheduled", SCHEDULE, NOW + days(2))
    assert refusal.guard == "G1"


def test_g1_allows_biopsy_after_magnification(pathway):
    case = suspicious_case(pathway)
    stereotactic = case.open_step("stereotactic_biopsy")
    accept(case, "biopsy_scheduled", SCHEDULE, MAG_AT + days(1))
    assert step(case, stereotactic.id).status == StepStatus.scheduled
    accept(case, "biopsy_performed", STEREOTACTIC_DONE, MAG_AT + days(7))
    assert step(case, stereotactic.id).status == StepStatus.completed


def test_g1_allows_infeasible_after_magnification(pathway):
    case = suspicious_case(pathway)
    decision = accept(case, "stereotactic_infeasible", {"reason": "widely_separated"}, LATER)
    assert [s.kind for s in decision.create] == ["open_surgical_biopsy"]


# --- G2: ultrasound never characterises calcifications nor guides their biopsy --------------------------------


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"findings": "echogenic foci", "birads": "4A"}, "birads"),
        ({"findings": "echogenic foci", "morphology": "fine_pleomorphic"}, "morphology"),
        ({"findings": "echogenic foci", "birads": "2", "morphology": "round"}, "birads"),
    ],
)
def test_g2_ultrasound_read_cannot_carry_birads_or_morphology(pathway, data, field):
    case = opened(pathway)
    refusal = refuse(case, "ultrasound_result", data, NOW + days(1))
    assert refusal.guard == "G2"
    assert refusal.field == field
    assert "Ultrasound cannot characterise calcifications" in refusal.message
    assert "magnification views" in refusal.message


def test_g2_allows_ultrasound_findings_only(pathway):
    case = opened(pathway)
    ultrasound = case.open_step("ultrasound")
    decision = accept(case, "ultrasound_result", {"findings": "no sonographic correlate"}, NOW + days(1))
    assert [change.step_id for change in decision.complete] == [ultrasound.id]
    assert decision.birads is None
    assert "magnification_views" in case.open_kinds()


@pytest.mark.parametrize("procedure", ["stereotactic", "open_surgical"])
@pytest.mark.parametrize("kind", ["biopsy_scheduled", "biopsy_performed"])
def test_g2_refuses_ultrasound_guided_biopsy(pathway, kind, procedure):
    case = suspicious_case(pathway)
    if procedure == "open_surgical":
        accept(case, "stereotactic_infeasible", {"reason": "breast_too_small"}, MAG_AT + days(1))
    data = {
        **(SCHEDULE if kind == "biopsy_scheduled" else STEREOTACTIC_DONE),
        "procedure": procedure,
        "guidance": "ultrasound",
    }
    refusal = refuse(case, kind, data, LATER)
    assert refusal.guard == "G2"
    assert refusal.field == "guidance"
    assert "cannot be biopsied under ultrasound guidance" in refusal.message


@pytest.mark.parametrize("guidance", ["stereotactic", "mri", None])
def test_g2_allows_other_guidance(pathway, guidance):
    case = suspicious_case(pathway)
    data = {**STEREOTACTIC_DONE, "guidance": guidance}
    decision = accept(case, "biopsy_performed", data, LATER)
    assert decision.data.get("guidance") == guidance


@pytest.mark.parametrize("modality", ["ultrasound", "Ultrasound", "MRI"])
def test_g2_magnification_cannot_be_completed_by_another_modality(pathway, modality):
    case = opened(pathway)
    refusal = refuse(case, "magnification_result", {**SUSPICIOUS_MAG, "modality": modality}, MAG_AT)
    assert refusal.guard == "G2"
    assert refusal.field == "modality"
    assert f"a {modality} study cannot complete them" in refusal.message
    assert case.open_step("magnification_views").status == StepStatus.pending


@pytest.mark.parametrize("modality", ["mammography", "Mammography", None])
def test_g2_allows_mammographic_magnification(pathway, modality):
    case = opened(pathway)
    data = {**SUSPICIOUS_MAG, "modality": modality} if modality else SUSPICIOUS_MAG
    accept(case, "magnification_result", data, MAG_AT)
    assert case.status_of("magnification_views") == [StepStatus.completed]


@pytest.mark.parametrize("birads", ["1", "2", "3", "4A", "5"])
def test_g2_refuses_an_assessment_before_magnification(pathway, birads):
    case = opened(pathway)
    refusal = refuse(case, "assessment", {"birads": birads}, NOW + days(1))
    assert refusal.guard == "G2"
    assert "Magnification views of the left breast are not done yet" in refusal.message
    assert "never by ultrasound alone" in refusal.message


def test_g2_allows_an_incomplete_assessment_before_magnification(pathway):
    case = opened(pathway)
    decision = accept(case, "assessment", {"birads": "0"}, NOW + days(1))
    assert decision.birads == "0"
    assert case.open_step("magnification_views").status == StepStatus.pending


def test_g2_allows_an_assessment_after_magnification(pathway):
    case = opened(pathway)
    accept(case, "magnification_result", {**BENIGN_MAG, "birads": "0"}, MAG_AT)
    decision = accept(case, "assessment", {"birads": "4B"}, LATER)
    assert "stereotactic_biopsy" in [s.kind for s in decision.create]


# --- G3: specimen radiograph before a stereotactic biopsy counts ---------------------------------------------


@pytest.mark.parametrize("radiograph", ["not_done", "no_calcifications", None])
def test_g3_refuses_stereotactic_biopsy_without_confirmed_calcifications(pathway, radiograph):
    case = suspicious_case(pathway)
    data = {**STEREOTACTIC_DONE, "specimen_radiograph": radiograph}
    if radiograph is None:
        del data["specimen_radiograph"]
    refusal = refuse(case, "biopsy_performed", data, LATER)
    assert refusal.guard == "G3"
    assert refusal.field == "specimen_radiograph"
    assert "specimen radiograph confirms calcifications" in refusal.message
    assert case.open_step("stereotactic_biopsy").status == StepStatus.pending


def test_g3_allows_confirmed_stereotactic_biopsy_without_warnings(pathway):
    case = suspicious_case(pathway)
    decision = accept(case, "biopsy_performed", STEREOTACTIC_DONE, LATER)
    assert decision.warnings == []


@pytest.mark.parametrize("radiograph", ["not_done", "no_calcifications", None])
def test_g3_does_not_apply_to_open_surgical_biopsy(pathway, radiograph):
    case = suspicious_case(pathway)
    accept(case, "stereotactic_infeasible", {"reason": "posterior_or_superficial"}, MAG_AT + days(1))
    data = {"procedure": "open_surgical", "guidance": "wire_localisation"}
    if radiograph:
        data["specimen_radiograph"] = radiograph
    decision = accept(case, "biopsy_performed", data, LATER)
    assert decision.warnings == []
    assert case.status_of("open_surgical_biopsy") == [StepStatus.completed]


FEW_CORES = "Multiple cores are expected for calcifications; fewer than two were recorded."
NO_MARKER = "No clip placed and no calcifications left: the site may be hard to localise for excision."


@pytest.mark.parametrize(
    ("cores", "marker", "expected"),
    [
        (1, "clip_placed", [FEW_CORES]),
        (None, "calcifications_left", [FEW_CORES]),
        (2, "none", [NO_MARKER]),
        (6, None, [NO_MARKER]),
        (1, "none", [FEW_CORES, NO_MARKER]),
        (2, "calcifications_left", []),
    ],
)
def test_g3_warns_about_few_cores_and_no_site_marker(pathway, cores, marker, expected):
    case = suspicious_case(pathway)
    data = {"procedure": "stereotactic", "specimen_radiograph": "calcifications_confirmed"}
    if cores is not None:
        data["cores"] = cores
    if marker is not None:
        data["site_marker"] = marker
    decision = accept(case, "biopsy_performed", data, LATER)
    assert decision.warnings == expected
    assert case.state.history[-1].kind == "biopsy_performed"


# --- G4: prior films declared unobtainable only with a reason ----------------------------------------------


@pytest.mark.parametrize("reason", ["", "   ", "no", " ab ", None, 42])
def test_g4_refuses_unobtainable_priors_without_a_reason(pathway, reason):
    case = opened(pathway)
    data = {"facility_id": 11}
    if reason is not None:
        data["reason"] = reason
    refusal = refuse(case, "prior_films_unobtainable", data, NOW + days(21))
    assert refusal.guard == "G4"
    assert refusal.field == "reason"
    assert "unobtainable with a reason" in refusal.message
    assert "must be chased" in refusal.message
    assert case.status_of("prior_film_request") == ["pending", "pending"]


@pytest.mark.parametrize("reason", ["abc", "facility closed, records destroyed"])
def test_g4_allows_unobtainable_priors_with_a_reason(pathway, reason):
    case = opened(pathway)
    decision = accept(case, "prior_films_unobtainable", {"facility_id": 11, "reason": reason}, NOW + days(21))
    assert [change.reason for change in decision.cancel] == [reason]
    assert sorted(case.status_of("prior_film_request")) == ["cancelled", "pending"]


# --- G5: assessment contradicting morphology needs an override reason ---------------------------------------

HIGH_CONCERN = {
    "fine_pleomorphic": "fine pleomorphic",
    "fine_linear": "fine linear",
    "fine_linear_branching": "fine linear branching",
}


@pytest.mark.parametrize("morphology", sorted(HIGH_CONCERN))
@pytest.mark.parametrize("birads", ["1", "2", "3"])
def test_g5_refuses_low_birads_with_high_concern_morphology(pathway, birads, morphology):
    case = opened(pathway)
    data = {"birads": birads, "morphology": morphology, "distribution": "grouped"}
    refusal = refuse(case, "magnification_result", data, MAG_AT)
    assert refusal.guard == "G5"
    assert refusal.field == "override_reason"
    assert f"BI-RADS {birads} conflicts with {HIGH_CONCERN[morphology]} calcifications" in refusal.message
    assert "override reason" in refusal.message
    # a blank override reason is no reason
    refusal = refuse(case, "magnification_result", {**data, "override_reason": "   "}, MAG_AT)
    assert refusal.guard == "G5"


@pytest.mark.parametrize("morphology", sorted(HIGH_CONCERN))
@pytest.mark.parametrize("birads", ["1", "2", "3"])
def test_g5_accepts_low_birads_with_override_reason_and_records_a_warning(pathway, birads, morphology):
    case = opened(pathway)
    data = {
        "birads": birads,
        "morphology": morphology,
        "distribution": "grouped",
        "override_reason": "stable for 6 years on outside priors",
    }
    decision = accept(case, "magnification_result", data, MAG_AT)
    assert decision.birads == birads
    assert decision.data["override_reason"] == "stable for 6 years on outside priors"
    assert decision.warnings == [
        f"BI-RADS {birads} recorded against {HIGH_CONCERN[morphology]} morphology; override reason recorded."
    ]
    assert case.state.history[-1].payload["override_reason"] == "stable for 6 years on outside priors"


@pytest.mark.parametrize(
    ("kind", "data"),
    [
        ("assessment", {"birads": "2", "morphology": "fine_linear"}),
        ("followup_imaging_result", {"birads": "3", "morphology": "fine_pleomorphic", "change": "stable"}),
    ],
)
def test_g5_applies_to_every_assessment_event(pathway, kind, data):
    case = opened(pathway, density="b", facility_ids=())
    accept(case, "magnification_result", PROBABLY_BENIGN_MAG, MAG_AT)
    refusal = refuse(case, kind, data, MAG_AT + days(30))
    assert refusal.guard == "G5"
    accept(case, kind, {**data, "override_reason": "second reader agrees"}, MAG_AT + days(30))


@pytest.mark.parametrize("morphology", ["amorphous", "coarse_heterogeneous"])
def test_g5_flags_intermediate_morphology_with_birads_3(pathway, morphology):
    case = opened(pathway)
    decision = accept(
        case, "magnification_result", {"birads": "3", "morphology": morphology, "distribution": "grouped"}, MAG_AT
    )
    words = morphology.replace("_", " ")
    assert decision.warnings == [
        f"The BI-RADS lexicon usually places {words} calcifications at 4B; BI-RADS 3 was recorded. "
        "The radiologist's assessment stands; this is flagged for review."
    ]
    assert case.open_step("followup_6_month").laterality == "left"


@pytest.mark.parametrize(
    "data",
    [
        {"birads": "4B", "morphology": "fine_pleomorphic", "distribution": "grouped"},
        {"birads": "4A", "morphology": "amorphous", "distribution": "grouped"},
        {"birads": "2", "morphology": "coarse_popcorn", "distribution": "diffuse"},
        {"birads": "0", "morphology": "fine_linear_branching", "distribution": "linear"},
    ],
)
def test_g5_is_silent_when_assessment_and_morphology_agree(pathway, data):
    case = opened(pathway)
    decision = accept(case, "magnification_result", data, MAG_AT)
    assert decision.warnings == []


# --- G6: stereotactic infeasible only for a listed reason -----------------------------------------------------


@pytest.mark.parametrize("reason", ["patient_anxious", "", "  ", "too small", None])
def test_g6_refuses_unlisted_reason_and_lists_the_five(pathway, reason):
    case = suspicious_case(pathway)
    data = {"reason": reason} if reason is not None else {}
    refusal = refuse(case, "stereotactic_infeasible", data, LATER)
    assert refusal.guard == "G6"
    assert refusal.field == "reason"
    assert refusal.message.startswith("Stereotactic biopsy can only be declared not feasible for one of these reasons")
    for key, text in FIVE_REASONS.items():
        assert f"{key} ({text})" in refusal.message
    assert case.open_step("stereotactic_biopsy").status == StepStatus.pending
    assert "open_surgical_biopsy" not in case.open_kinds()


@pytest.mark.parametrize("reason", [*FIVE_REASONS, " Breast_Too_Small "])
def test_g6_allows_each_listed_reason(pathway, reason):
    case = suspicious_case(pathway)
    decision = accept(case, "stereotactic_infeasible", {"reason": reason, "note": "see tech note"}, LATER)
    assert decision.data["reason"] == reason.strip().lower()
    assert case.open_step("open_surgical_biopsy").laterality == "left"


# --- refusals are never applied ----------------------------------------------------------------------------


def test_a_refusal_leaves_the_case_exactly_as_it_was(pathway):
    case = suspicious_case(pathway)
    before = case.state
    for kind, data in [
        ("biopsy_performed", {**STEREOTACTIC_DONE, "specimen_radiograph": "not_done"}),
        ("stereotactic_infeasible", {"reason": "bad day"}),
        ("prior_films_unobtainable", {"facility_id": 12, "reason": ""}),
        ("ultrasound_result", {"findings": "x", "birads": "2"}),
        ("assessment", {"birads": "3", "morphology": "fine_linear"}),
    ]:
        refuse(case, kind, data, LATER)
    assert case.state is before
    assert len(case.state.history) == 2


# --- G5 remembers the recorded morphology ---------------------------------------------------------------------


def test_g5_checks_the_recorded_morphology_when_the_assessment_omits_it(pathway):
    case = suspicious_case(pathway)  # magnification recorded fine_pleomorphic, BI-RADS 4B
    result = case.record("assessment", {"birads": "2"}, LATER)
    assert getattr(result, "guard", None) == "G5"
