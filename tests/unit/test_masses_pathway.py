"""Every branch and guard of the masses, asymmetries and distortion pathway, through the pure engine.

Due times are computed from the numbers in config/pathways/masses.yaml; month-based ones are
written out as calendar dates so the engine's month arithmetic is checked, not reused. Every
refusal goes through `support.refuse`, which also checks the refused event changed nothing.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.factories import MemoryCase
from tracking.pathway.decision import Decision, OpeningFacts, Refusal
from tracking.pathway.definition import Pathway, load_pathway, pathway_for
from tracking.pathway.engine import plan_opening
from tracking.pathway.vocabulary import CaseStatus, FindingType, StepStatus
from tracking.settings import REPO_ROOT, get_settings

from .support import NOW, accept, at_time, days, open_rows, refuse, step, steps_of

WORKUP = Path(sys.executable).parent / "workup"
MASSES_FILE = REPO_ROOT / "config" / "pathways" / "masses.yaml"
CALCIFICATIONS_FILE = REPO_ROOT / "config" / "pathways" / "calcifications.yaml"
MASS_FINDINGS = [
    "mass",
    "asymmetry",
    "focal_asymmetry",
    "global_asymmetry",
    "developing_asymmetry",
    "architectural_distortion",
]

MAMMO_AT = NOW + days(2)  # 2026-03-04 09:00
US_AT = NOW + days(3)  # 2026-03-05 09:00
LATER = US_AT + days(1)

# Reads of a suspicious mass seen on both modalities.
SUSPICIOUS_MAMMO = {"birads": "4B", "seen_on_mammography": True, "shape": "irregular", "margin": "indistinct"}
SUSPICIOUS_US = {
    "ultrasound_finding": "solid_mass",
    "birads": "4B",
    "shape": "irregular",
    "orientation": "not_parallel",
}
# A circumscribed oval parallel solid mass: probably a fibroadenoma (BI-RADS 3).
PROBABLY_BENIGN_MAMMO = {"birads": "0", "seen_on_mammography": True, "shape": "oval", "margin": "circumscribed"}
PROBABLY_BENIGN_US = {
    "ultrasound_finding": "solid_mass",
    "birads": "3",
    "shape": "oval",
    "margin": "circumscribed",
    "orientation": "parallel",
}
NEGATIVE_MAMMO = {"birads": "1", "seen_on_mammography": False}
NEGATIVE_US = {"ultrasound_finding": "no_correlate", "birads": "1"}
US_BIOPSY_DONE = {"route": "ultrasound", "cores": 4, "needle_gauge": 14, "clip_placed": True}
LETTER = {"density_sentence_included": True}
INFEASIBLE_REASONS = [
    "breast_too_small",
    "breast_too_thin",
    "posterior_or_superficial",
    "not_visualised_for_guidance",
    "mri_not_possible",
]


@pytest.fixture(scope="module")
def masses() -> Pathway:
    return load_pathway(MASSES_FILE)


def opened(pathway: Pathway, **kwargs: Any) -> MemoryCase:
    kwargs.setdefault("finding_type", "mass")
    return MemoryCase.open(pathway, NOW, **kwargs)


def worked_up(pathway: Pathway, mammo: dict[str, Any], us: dict[str, Any], **kwargs: Any) -> MemoryCase:
    """A case whose diagnostic mammogram and targeted ultrasound have both been read."""
    case = opened(pathway, **kwargs)
    accept(case, "diagnostic_mammogram_result", mammo, MAMMO_AT)
    accept(case, "ultrasound_result", us, US_AT)
    return case


def created(decision: Decision) -> list[tuple[str, str | None, Any]]:
    return sorted((s.kind, s.laterality, s.due_at) for s in decision.create)


def send_letters(case: MemoryCase, at) -> Decision | None:
    last = None
    while "result_letter" in case.open_kinds():
        last = accept(case, "result_letter_sent", LETTER, at)
    return last


# --- the file and how a case finds it -------------------------------------------------------------------


def test_masses_file_loads_with_its_guards_and_milestones(masses):
    assert (masses.name, masses.version) == ("masses", 2)
    assert masses.finding_types == tuple(MASS_FINDINGS)
    assert set(masses.finding_types) == {kind.value for kind in FindingType} - {"calcifications"}
    assert set(masses.guards) == {"G1", "G2", "G3", "G4", "G5", "G6"}
    assert masses.events["biopsy_performed"].guards == ("G1", "G2", "G3")
    assert masses.events["image_guided_infeasible"].guards == ("G1", "G6")
    assert masses.events["post_biopsy_mammogram_done"].guards == ("G3",)
    assert masses.events["pathology_result"].guards == ("G5",)
    assert masses.timeliness["diagnostic_imaging"] == ["diagnostic_mammogram", "targeted_ultrasound"]
    assert masses.timeliness["biopsy"] == ["us_guided_biopsy", "stereotactic_biopsy", "mri_biopsy", "surgical_excision"]
    assert masses.timeliness["diagnosis"] == {
        "events": ["pathology_result"],
        "assessment_events": [
            "diagnostic_mammogram_result",
            "ultrasound_result",
            "mri_result",
            "assessment",
            "followup_imaging_result",
        ],
        "birads": ["1", "2", "3"],
    }
    assert masses.screening_step == "annual_screening"
    assert masses.final_assessment_step == "final_assessment"
    assert masses.recorded_findings_reset_by == ("pathology_result",)
    assert masses.steps["result_letter"].repeatable
    assert masses.steps["result_letter"].due.by_birads == {"4A": 7, "4B": 7, "4C": 7, "5": 7}
    assert masses.vocabularies["margin"]["spiculated"] == "high"
    assert masses.vocabularies["mass_density"]["fat_containing"] == "benign"
    assert masses.choices("assessment") == ("0", "1", "2", "3", "4A", "4B", "4C", "5")
    assert "6" in masses.choices("birads")
    assert masses.choices("pathology")[:2] == ("dcis", "invasive_carcinoma")
    assert set(masses.vocabularies["image_guided_infeasible_reasons"]) == set(INFEASIBLE_REASONS)
    assert masses.may_record("radiologist", "ultrasound_result")
    assert not masses.may_record("radiologist", "result_letter_sent")
    assert masses.events["contact_attempt"].brings_back == {"outcome": {"in": ["rescheduled", "reached"]}}
    assert not masses.events["pathology_result"].brings_back
    assert masses.events["screening_done"].on_closed_case


def test_workup_pathway_check_accepts_the_masses_file():
    result = subprocess.run(
        [str(WORKUP), "pathway", "check", "--no-database", "config/pathways/masses.yaml"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("config/pathways/masses.yaml: ok: masses version 2,")


@pytest.fixture
def shipped_pathways(monkeypatch):
    monkeypatch.setenv("WORKUP_PATHWAYS_DIR", str(MASSES_FILE.parent))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.mark.parametrize("finding_type", MASS_FINDINGS)
def test_pathway_for_a_mass_finding_picks_masses_yaml(shipped_pathways, finding_type):
    chosen = pathway_for(finding_type)
    assert (chosen.name, chosen.version) == ("masses", 2)
    assert chosen.content_hash == load_pathway(MASSES_FILE).content_hash


def test_pathway_for_calcifications_still_picks_calcifications_yaml(shipped_pathways):
    chosen = pathway_for("calcifications")
    assert chosen.name == "calcifications"
    assert chosen.content_hash == load_pathway(CALCIFICATIONS_FILE).content_hash


def test_pathway_for_a_mass_opens_a_mass_case_through_the_engine(shipped_pathways):
    decision = plan_opening(pathway_for("mass"), OpeningFacts("mass", "left", "b", "0", (), True), NOW)
    assert isinstance(decision, Decision)
    assert "diagnostic_mammogram" in [s.kind for s in decision.create]


def test_calcifications_are_refused_by_the_masses_pathway(masses):
    result = plan_opening(masses, OpeningFacts("calcifications", "left", "c", "0", ()), NOW)
    assert isinstance(result, Refusal)
    assert "masses pathway" in result.message and "calcifications" in result.message


# --- opening ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("finding_type", MASS_FINDINGS)
def test_opening_creates_diagnostic_mammogram_targeted_ultrasound_priors_and_screening(masses, finding_type):
    case = opened(masses, finding_type=finding_type)
    assert open_rows(case) == [
        ("annual_screening", "right", None, at_time(2027, 4, 1)),  # 2026-03-02 + 12 months + 30 days
        ("diagnostic_mammogram", "left", None, NOW + days(7)),
        ("final_assessment", None, None, NOW + days(30)),
        ("prior_film_request", None, 11, NOW + days(30)),
        ("prior_film_request", None, 12, NOW + days(30)),
        ("targeted_ultrasound", "left", None, NOW + days(7)),
    ]
    assert case.state.birads == "0"


@pytest.mark.parametrize("density", ["a", "b", "c", "d"])
def test_opening_without_facilities_has_no_priors_and_ultrasound_whatever_the_density(masses, density):
    case = opened(masses, density=density, facility_ids=())
    assert case.open_kinds() == ["annual_screening", "diagnostic_mammogram", "targeted_ultrasound"]


def test_bilateral_finding_has_no_other_breast_screening(masses):
    case = opened(masses, laterality="bilateral")
    assert "annual_screening" not in case.open_kinds()
    assert case.open_step("targeted_ultrasound").laterality == "bilateral"


# --- simple cyst, negative, probably benign -----------------------------------------------------------------


def test_simple_cyst_is_birads_2_routine_screening_and_the_case_closes_when_done(masses):
    case = opened(masses, facility_ids=())
    right_screening = case.open_step("annual_screening")
    accept(case, "diagnostic_mammogram_result", PROBABLY_BENIGN_MAMMO, MAMMO_AT)
    assert "final_assessment" in case.open_kinds()  # BI-RADS 0: incomplete
    decision = accept(case, "ultrasound_result", {"ultrasound_finding": "simple_cyst", "birads": "2"}, US_AT)
    assert decision.birads == "2" and decision.disposition == "returned_to_screening"
    assert step(case, right_screening.id).status == StepStatus.cancelled
    assert "final_assessment" not in case.open_kinds()
    bilateral = case.open_step("annual_screening")
    assert (bilateral.laterality, bilateral.due_at) == ("bilateral", at_time(2027, 4, 4))
    assert not {"us_guided_biopsy", "stereotactic_biopsy", "followup_6_month", "clinical_followup"} & set(
        case.open_kinds()
    )
    closing = send_letters(case, LATER)
    assert closing is not None and closing.status == "closed"
    assert step(case, bilateral.id).status == StepStatus.handed_off
    assert case.state.status == CaseStatus.closed


def test_screening_stays_tracked_on_the_closed_case(masses):
    case = worked_up(masses, NEGATIVE_MAMMO, NEGATIVE_US, facility_ids=())
    send_letters(case, LATER)
    assert case.state.status == CaseStatus.closed
    refused = refuse(case, "assessment", {"birads": "2"}, LATER + days(1))
    assert "closed" in refused.message
    screening = [s for s in steps_of(case, "annual_screening") if s.status == StepStatus.handed_off][0]
    decision = accept(case, "screening_done", {"birads": "1"}, at_time(2027, 3, 1))
    assert [change.step_id for change in decision.complete] == [screening.id]


@pytest.mark.parametrize("birads", ["1", "2"])
def test_negative_imaging_without_a_palpable_lump_returns_to_screening_and_closes(masses, birads):
    case = worked_up(masses, {**NEGATIVE_MAMMO, "birads": birads}, {**NEGATIVE_US, "birads": birads}, facility_ids=())
    assert "clinical_followup" not in case.open_kinds()
    assert case.state.disposition == "returned_to_screening"
    assert send_letters(case, LATER).status == "closed"


def test_probably_benign_solid_mass_starts_6_12_24_month_surveillance_and_downgrades(masses):
    case = opened(masses, facility_ids=())
    accept(case, "diagnostic_mammogram_result", PROBABLY_BENIGN_MAMMO, MAMMO_AT)
    decision = accept(case, "ultrasound_result", PROBABLY_BENIGN_US, US_AT)
    assert decision.birads == "3"
    # 2026-03-05 + 6 months = 2026-09-05; + 30 days window = 2026-10-05
    assert ("followup_6_month", "left", at_time(2026, 10, 5)) in created(decision)
    assert not {"us_guided_biopsy", "stereotactic_biopsy"} & set(case.open_kinds())
    send_letters(case, LATER)

    six_read = at_time(2026, 9, 8)
    stable = {"birads": "3", "change": "stable", "modality": "ultrasound", "volume_increase_percent": 0}
    decision = accept(case, "followup_imaging_result", stable, six_read)
    assert ("followup_12_month", "bilateral", at_time(2027, 4, 7)) in created(decision)  # + 6 months + 30 days
    send_letters(case, six_read)
    twelve_read = at_time(2027, 3, 10)
    decision = accept(case, "followup_imaging_result", stable, twelve_read)
    assert ("followup_24_month", "bilateral", at_time(2028, 4, 9)) in created(decision)  # + 12 months + 30 days
    send_letters(case, twelve_read)
    final = accept(case, "followup_imaging_result", stable, at_time(2028, 3, 14))
    assert final.birads == "2" and final.disposition == "returned_to_screening"
    assert any("Stable through 3 follow-up exams" in warning for warning in final.warnings)
    assert send_letters(case, at_time(2028, 3, 15)).status == "closed"


# --- the 20% growth rule -------------------------------------------------------------------------------------


def surveillance_case(pathway: Pathway) -> MemoryCase:
    case = worked_up(pathway, PROBABLY_BENIGN_MAMMO, PROBABLY_BENIGN_US, facility_ids=())
    send_letters(case, LATER)
    return case


SIX_MONTHS = at_time(2026, 9, 5)


@pytest.mark.parametrize("growth", [20, 20.0, 35.5])
def test_growth_of_20_percent_with_birads_1_to_3_is_refused_without_a_reason(masses, growth):
    case = surveillance_case(masses)
    for birads in ("1", "2", "3"):
        data = {"birads": birads, "change": "increased", "volume_increase_percent": growth}
        refusal = refuse(case, "followup_imaging_result", data, SIX_MONTHS)
        assert refusal.guard == "G5"
        assert "20% or more within 6 months" in refusal.message
        assert refusal.field == "override_reason"


def test_growth_below_20_percent_keeps_surveillance(masses):
    case = surveillance_case(masses)
    decision = accept(
        case,
        "followup_imaging_result",
        {"birads": "3", "change": "increased", "volume_increase_percent": 19.9},
        SIX_MONTHS,
    )
    assert decision.warnings == []
    assert "followup_12_month" in case.open_kinds()


def test_growth_of_20_percent_kept_at_birads_3_with_a_reason_is_flagged(masses):
    case = surveillance_case(masses)
    data = {"birads": "3", "change": "increased", "volume_increase_percent": 25, "override_reason": "measurement error"}
    decision = accept(case, "followup_imaging_result", data, SIX_MONTHS)
    assert any("grew 25% in volume" in warning for warning in decision.warnings)


def test_growth_upgraded_to_suspicious_goes_to_ultrasound_guided_biopsy(masses):
    case = surveillance_case(masses)
    six = case.open_step("followup_6_month")
    data = {"birads": "4A", "change": "increased", "volume_increase_percent": 30, "modality": "ultrasound"}
    decision = accept(case, "followup_imaging_result", data, SIX_MONTHS)
    assert step(case, six.id).status == StepStatus.completed
    assert created(decision) == [
        ("result_letter", None, SIX_MONTHS + days(7)),
        ("us_guided_biopsy", "left", SIX_MONTHS + days(7)),
    ]
    assert not any(kind.startswith("followup_") for kind in case.open_kinds())


# --- suspicious: which biopsy -----------------------------------------------------------------------------


def test_suspicious_mass_seen_on_ultrasound_goes_to_ultrasound_guided_biopsy(masses):
    case = opened(masses)
    accept(case, "ultrasound_result", SUSPICIOUS_US, MAMMO_AT)
    assert case.open_step("us_guided_biopsy").due_at == MAMMO_AT + days(7)
    decision = accept(case, "diagnostic_mammogram_result", SUSPICIOUS_MAMMO, US_AT)
    assert "us_guided_biopsy" not in [s.kind for s in decision.create]  # already open: not duplicated
    assert "stereotactic_biopsy" not in case.open_kinds()
    assert [s.due_at for s in steps_of(case, "result_letter")] == [MAMMO_AT + days(7), US_AT + days(7)]


def test_mammogram_read_first_then_an_ultrasound_correlate_moves_the_biopsy_to_ultrasound(masses):
    case = opened(masses)
    accept(case, "diagnostic_mammogram_result", SUSPICIOUS_MAMMO, MAMMO_AT)
    stereotactic = case.open_step("stereotactic_biopsy")  # not scanned yet: the mammographic route
    decision = accept(case, "ultrasound_result", SUSPICIOUS_US, US_AT)
    assert stereotactic.id in [change.step_id for change in decision.cancel]
    assert case.open_step("us_guided_biopsy").due_at == US_AT + days(7)
    assert "stereotactic_biopsy" not in case.open_kinds()


def test_ultrasound_guided_biopsy_then_post_biopsy_mammogram_documenting_the_clip(masses):
    case = worked_up(masses, SUSPICIOUS_MAMMO, SUSPICIOUS_US)
    biopsy = case.open_step("us_guided_biopsy")
    booked = accept(
        case, "biopsy_scheduled", {"route": "ultrasound", "scheduled_for": "2026-03-09T10:00:00+00:00"}, LATER
    )
    assert booked.schedule == [(biopsy.id, at_time(2026, 3, 9, 10))]
    done_at = at_time(2026, 3, 9, 11)
    decision = accept(case, "biopsy_performed", US_BIOPSY_DONE, done_at)
    assert [change.step_id for change in decision.complete] == [biopsy.id]
    assert decision.warnings == []
    assert created(decision) == [
        ("post_biopsy_mammogram", "left", done_at + days(7)),
        ("rad_path_concordance", "left", done_at + days(7)),
    ]
    post = case.open_step("post_biopsy_mammogram")
    decision = accept(case, "post_biopsy_mammogram_done", {"clip": "at_biopsy_site", "two_views": True}, done_at)
    assert [change.step_id for change in decision.complete] == [post.id]
    assert decision.warnings == []


@pytest.mark.parametrize("finding_type", ["architectural_distortion", "focal_asymmetry"])
def test_lesion_seen_only_on_mammography_goes_to_stereotactic_or_tomosynthesis_biopsy(masses, finding_type):
    case = worked_up(
        masses,
        {"birads": "4B", "seen_on_mammography": True, "technique": "tomosynthesis"},
        {"ultrasound_finding": "no_correlate", "birads": "4B"},
        finding_type=finding_type,
    )
    stereotactic = case.open_step("stereotactic_biopsy")
    assert stereotactic.due_at == MAMMO_AT + days(7)
    assert "us_guided_biopsy" not in case.open_kinds()
    accept(case, "biopsy_scheduled", {"route": "tomosynthesis", "scheduled_for": "2026-03-10T09:00:00+00:00"}, LATER)
    assert step(case, stereotactic.id).status == StepStatus.scheduled
    decision = accept(case, "biopsy_performed", {"route": "tomosynthesis", "cores": 6}, at_time(2026, 3, 10))
    assert [change.step_id for change in decision.complete] == [stereotactic.id]
    assert [s.kind for s in decision.create] == ["rad_path_concordance"]  # no clip mammogram step here


def mri_only_case(pathway: Pathway) -> MemoryCase:
    case = worked_up(
        pathway,
        {"birads": "0", "seen_on_mammography": False},
        {"ultrasound_finding": "no_correlate", "birads": "0"},
        finding_type="asymmetry",
        facility_ids=(),
    )
    accept(case, "mri_result", {"birads": "4B", "seen_on_mri": True}, LATER)
    return case


def test_lesion_seen_only_on_mri_goes_to_mri_guided_biopsy(masses):
    case = mri_only_case(masses)
    mri = case.open_step("mri_biopsy")
    assert mri.due_at == LATER + days(7)
    assert not {"us_guided_biopsy", "stereotactic_biopsy"} & set(case.open_kinds())
    accept(case, "biopsy_scheduled", {"route": "mri", "scheduled_for": "2026-03-12T09:00:00+00:00"}, LATER)
    decision = accept(case, "biopsy_performed", {"route": "mri", "cores": 6}, at_time(2026, 3, 12))
    assert [change.step_id for change in decision.complete] == [mri.id]
    assert "rad_path_concordance" in case.open_kinds()


def test_mri_not_possible_leads_to_6_month_mri_followup(masses):
    case = mri_only_case(masses)
    mri = case.open_step("mri_biopsy")
    when = at_time(2026, 3, 10)
    decision = accept(case, "mri_biopsy_not_done", {"reason": "mri_not_possible", "plan": "mri_followup_6_month"}, when)
    assert [change.step_id for change in decision.cancel] == [mri.id]
    assert created(decision) == [("mri_followup_6_month", "left", at_time(2026, 10, 10))]  # + 6 months + 30 days
    decision = accept(
        case, "followup_imaging_result", {"birads": "2", "change": "decreased", "modality": "mri"}, at_time(2026, 9, 9)
    )
    assert decision.disposition == "returned_to_screening"
    assert "mri_followup_6_month" not in case.open_kinds()


def test_lesion_not_seen_at_mri_biopsy_leads_to_surgical_excision(masses):
    case = mri_only_case(masses)
    when = at_time(2026, 3, 12)
    decision = accept(
        case, "mri_biopsy_not_done", {"reason": "lesion_not_seen_at_biopsy", "plan": "surgical_excision"}, when
    )
    assert created(decision) == [("surgical_excision", "left", when + days(7))]
    accept(case, "biopsy_performed", {"route": "surgical_excision"}, when + days(5))
    assert "rad_path_concordance" in case.open_kinds()


@pytest.mark.parametrize("reason", INFEASIBLE_REASONS)
def test_no_image_guided_route_goes_to_surgical_excision_with_a_listed_reason(masses, reason):
    case = worked_up(masses, SUSPICIOUS_MAMMO, SUSPICIOUS_US)
    biopsy = case.open_step("us_guided_biopsy")
    decision = accept(case, "image_guided_infeasible", {"reason": reason}, LATER)
    assert [(change.step_id, change.reason) for change in decision.cancel] == [(biopsy.id, reason)]
    assert created(decision) == [("surgical_excision", "left", LATER + days(7))]
    excision = case.open_step("surgical_excision")
    accept(
        case, "biopsy_scheduled", {"route": "surgical_excision", "scheduled_for": "2026-03-11T08:00:00+00:00"}, LATER
    )
    assert step(case, excision.id).status == StepStatus.scheduled
    accept(case, "biopsy_performed", {"route": "surgical_excision"}, at_time(2026, 3, 11))
    assert step(case, excision.id).status == StepStatus.completed
    assert "rad_path_concordance" in case.open_kinds()


def test_biopsy_route_can_change_to_another_modality_that_sees_the_lesion(masses):
    case = worked_up(masses, SUSPICIOUS_MAMMO, SUSPICIOUS_US)
    biopsy = case.open_step("us_guided_biopsy")
    decision = accept(
        case,
        "biopsy_route_changed",
        {"route": "stereotactic", "reason": "calcified mass, clearer on tomosynthesis"},
        LATER,
    )
    assert [change.step_id for change in decision.cancel] == [biopsy.id]
    assert created(decision) == [("stereotactic_biopsy", "left", LATER + days(7))]


def test_biopsy_for_a_route_with_no_open_step_is_refused(masses):
    case = worked_up(masses, SUSPICIOUS_MAMMO, SUSPICIOUS_US)
    refusal = refuse(case, "biopsy_scheduled", {"route": "mri", "scheduled_for": "2026-03-12T08:00:00+00:00"}, LATER)
    assert refusal.guard == "G2"  # no MRI read: the guard answers before the missing step
    refusal = refuse(
        case, "biopsy_scheduled", {"route": "surgical_excision", "scheduled_for": "2026-03-12T08:00:00+00:00"}, LATER
    )
    assert "surgical excision" in refusal.message
    assert "ultrasound-guided core needle biopsy" in refusal.message  # the open step it could apply to


@pytest.mark.parametrize("birads", ["4A", "4B", "4C", "5"])
def test_suspicious_assessment_cancels_open_followups(masses, birads):
    case = surveillance_case(masses)
    six = case.open_step("followup_6_month")
    decision = accept(case, "assessment", {"birads": birads}, LATER + days(10))
    assert six.id in [change.step_id for change in decision.cancel]
    assert case.open_step("us_guided_biopsy").due_at == LATER + days(17)


def test_assessment_downgrade_cancels_the_open_biopsy(masses):
    case = worked_up(masses, SUSPICIOUS_MAMMO, {**SUSPICIOUS_US, "shape": "oval", "orientation": "parallel"})
    biopsy = case.open_step("us_guided_biopsy")
    # the assessment describes the mass again (oval, circumscribed, parallel): G5 reads these, the latest
    data = {"birads": "3", "shape": "oval", "margin": "circumscribed", "orientation": "parallel"}
    decision = accept(case, "assessment", data, LATER)
    assert biopsy.id in [change.step_id for change in decision.cancel]
    assert "followup_6_month" in case.open_kinds()


# --- concordance --------------------------------------------------------------------------------------------

BIOPSY_AT = at_time(2026, 3, 9)
PATHOLOGY_AT = at_time(2026, 3, 12)


def biopsied(pathway: Pathway, mammo: dict[str, Any] = SUSPICIOUS_MAMMO, us: dict[str, Any] = SUSPICIOUS_US):
    case = worked_up(pathway, mammo, us)
    accept(case, "biopsy_performed", US_BIOPSY_DONE, BIOPSY_AT)
    return case


@pytest.mark.parametrize(("diagnosis", "dcis_warning"), [("dcis", True), ("invasive_carcinoma", False)])
def test_malignant_pathology_is_birads_6_and_goes_to_surgical_consultation(masses, diagnosis, dcis_warning):
    case = biopsied(masses)
    decision = accept(
        case, "pathology_result", {"category": "malignant", "diagnosis": diagnosis, "concordant": True}, PATHOLOGY_AT
    )
    assert decision.birads == "6" and case.state.birads == "6"
    assert created(decision) == [("surgical_consultation", "left", PATHOLOGY_AT + days(28))]
    assert any("1 case in 5" in warning for warning in decision.warnings) == dcis_warning
    accept(case, "surgical_consultation_done", {"plan": "lumpectomy"}, PATHOLOGY_AT + days(10))
    assert case.state.disposition == "referred_to_surgery"


@pytest.mark.parametrize(
    ("category", "diagnosis", "concordant"),
    [
        ("high_risk", "adh", True),
        ("high_risk", "papilloma_with_atypia", True),
        ("high_risk", "radial_scar_with_atypia", True),
        ("benign", "fibroadenoma", False),
    ],
)
def test_high_risk_or_discordant_pathology_goes_to_surgical_consultation(masses, category, diagnosis, concordant):
    case = biopsied(masses)
    decision = accept(
        case, "pathology_result", {"category": category, "diagnosis": diagnosis, "concordant": concordant}, PATHOLOGY_AT
    )
    assert decision.birads is None
    assert created(decision) == [("surgical_consultation", "left", PATHOLOGY_AT + days(28))]
    repeat = accept(case, "repeat_biopsy_ordered", {"route": "ultrasound", "reason": "sampling error"}, PATHOLOGY_AT)
    assert created(repeat) == [("us_guided_biopsy", "left", PATHOLOGY_AT + days(7))]
    assert "surgical_consultation" not in case.open_kinds()


def test_benign_concordant_pathology_goes_to_6_month_followup(masses):
    case = biopsied(masses)
    decision = accept(
        case, "pathology_result", {"category": "benign", "diagnosis": "fibroadenoma", "concordant": True}, PATHOLOGY_AT
    )
    # 2026-03-12 + 6 months = 2026-09-12; + 30 days = 2026-10-12
    assert created(decision) == [("followup_6_month", "left", at_time(2026, 10, 12))]
    refusal = refuse(case, "repeat_biopsy_ordered", {"route": "ultrasound", "reason": "patient wish"}, PATHOLOGY_AT)
    assert "high-risk or discordant" in refusal.message


def birads_5_biopsied(pathway: Pathway) -> MemoryCase:
    return biopsied(
        pathway, {**SUSPICIOUS_MAMMO, "birads": "5", "margin": "spiculated"}, {**SUSPICIOUS_US, "birads": "5"}
    )


def test_benign_concordant_on_birads_5_is_refused_as_discordant_by_definition(masses):
    case = birads_5_biopsied(masses)
    refusal = refuse(
        case, "pathology_result", {"category": "benign", "diagnosis": "fibroadenoma", "concordant": True}, PATHOLOGY_AT
    )
    assert refusal.guard == "G5"
    assert "discordant by definition" in refusal.message


def test_benign_on_birads_5_with_a_reason_is_still_handled_as_discordant(masses):
    case = birads_5_biopsied(masses)
    data = {"category": "benign", "diagnosis": "fat_necrosis", "concordant": True, "override_reason": "reviewed"}
    decision = accept(case, "pathology_result", data, PATHOLOGY_AT)
    assert created(decision) == [("surgical_consultation", "left", PATHOLOGY_AT + days(28))]
    assert "followup_6_month" not in case.open_kinds()
    assert any("recorded as concordant" in warning for warning in decision.warnings)
    assert any("discordant by definition" in warning for warning in decision.warnings)
    repeat = accept(case, "repeat_biopsy_ordered", {"route": "ultrasound", "reason": "discordant"}, PATHOLOGY_AT)
    assert [s.kind for s in repeat.create] == ["us_guided_biopsy"]


def test_benign_discordant_on_birads_5_needs_no_reason(masses):
    case = birads_5_biopsied(masses)
    decision = accept(
        case, "pathology_result", {"category": "benign", "diagnosis": "fibroadenoma", "concordant": False}, PATHOLOGY_AT
    )
    assert [s.kind for s in decision.create] == ["surgical_consultation"]


def test_diagnosis_outside_its_category_is_refused(masses):
    case = biopsied(masses)
    refusal = refuse(
        case, "pathology_result", {"category": "benign", "diagnosis": "adh", "concordant": True}, PATHOLOGY_AT
    )
    assert refusal.field == "diagnosis"


# --- palpable lump with negative imaging --------------------------------------------------------------------


def test_palpable_lump_with_negative_imaging_owes_a_clinical_followup_never_a_silent_closure(masses):
    case = opened(masses, palpable=True, facility_ids=())
    first = accept(case, "diagnostic_mammogram_result", NEGATIVE_MAMMO, MAMMO_AT)
    assert "clinical_followup" not in [s.kind for s in first.create]  # the ultrasound is not read yet
    decision = accept(case, "ultrasound_result", {**NEGATIVE_US, "birads": "2"}, US_AT)
    assert ("clinical_followup", "left", US_AT + days(30)) in created(decision)
    assert case.state.disposition == "returned_to_screening"
    send_letters(case, LATER)
    assert case.state.status == CaseStatus.open  # the provider's examination is still owed
    assert case.open_kinds() == ["annual_screening", "clinical_followup"]
    closing = accept(
        case,
        "clinical_followup_done",
        {"examined_on": "2026-03-20T10:00:00+00:00", "examination": "Soft tissue, no discrete lump; routine care."},
        at_time(2026, 3, 21),
    )
    assert closing.status == "closed"


def test_palpable_lump_ultrasound_read_first_then_negative_mammogram(masses):
    case = opened(masses, palpable=True, facility_ids=())
    accept(case, "ultrasound_result", NEGATIVE_US, MAMMO_AT)
    decision = accept(case, "diagnostic_mammogram_result", {**NEGATIVE_MAMMO, "birads": "2"}, US_AT)
    assert ("clinical_followup", "left", US_AT + days(30)) in created(decision)


def test_palpable_lump_with_an_incomplete_read_superseded_by_a_negative_one(masses):
    case = opened(masses, palpable=True, facility_ids=())
    accept(case, "diagnostic_mammogram_result", {"birads": "0", "seen_on_mammography": False}, MAMMO_AT)
    decision = accept(case, "ultrasound_result", NEGATIVE_US, US_AT)
    assert "clinical_followup" in [s.kind for s in decision.create]


def test_palpable_lump_negative_after_priors_owes_the_clinical_followup(masses):
    case = opened(masses, palpable=True)
    accept(case, "diagnostic_mammogram_result", {"birads": "0", "seen_on_mammography": False}, MAMMO_AT)
    accept(case, "ultrasound_result", {"ultrasound_finding": "no_correlate", "birads": "0"}, US_AT)
    assert "clinical_followup" not in case.open_kinds()
    decision = accept(case, "assessment", {"birads": "1"}, LATER)
    assert ("clinical_followup", "left", LATER + days(30)) in created(decision)


def test_palpable_lump_with_a_suspicious_read_has_no_clinical_followup(masses):
    case = opened(masses, palpable=True)
    accept(case, "diagnostic_mammogram_result", NEGATIVE_MAMMO, MAMMO_AT)
    decision = accept(case, "ultrasound_result", SUSPICIOUS_US, US_AT)
    assert "clinical_followup" not in [s.kind for s in decision.create]
    assert "us_guided_biopsy" in case.open_kinds()


def test_a_later_suspicious_read_cancels_the_clinical_followup(masses):
    case = worked_up(masses, NEGATIVE_MAMMO, NEGATIVE_US, palpable=True)
    followup = case.open_step("clinical_followup")
    decision = accept(case, "mri_result", {"birads": "4A", "seen_on_mri": True}, LATER)
    assert followup.id in [change.step_id for change in decision.cancel]
    assert "mri_biopsy" in case.open_kinds()  # not on ultrasound, not on the mammogram: MRI only


# --- G1: no biopsy before the diagnostic workup is complete --------------------------------------------------


SCHEDULE_US = {"route": "ultrasound", "scheduled_for": "2026-03-12T10:00:00+00:00"}


@pytest.mark.parametrize(
    ("kind", "data"),
    [
        ("biopsy_scheduled", SCHEDULE_US),
        ("biopsy_performed", US_BIOPSY_DONE),
        ("biopsy_route_changed", {"route": "stereotactic", "reason": "x"}),
        ("image_guided_infeasible", {"reason": "breast_too_small"}),
        ("repeat_biopsy_ordered", {"route": "ultrasound", "reason": "discordant"}),
        ("biopsy_performed", {}),  # G1 wins over a plain "field missing"
    ],
)
def test_g1_refuses_a_biopsy_before_the_targeted_ultrasound_is_done(masses, kind, data):
    case = opened(masses)
    accept(case, "diagnostic_mammogram_result", SUSPICIOUS_MAMMO, MAMMO_AT)
    refusal = refuse(case, kind, data, MAMMO_AT + days(1))
    assert refusal.guard == "G1"
    assert "The diagnostic workup of the left breast is not complete" in refusal.message
    assert "targeted ultrasound" in refusal.message


def test_g1_refuses_a_biopsy_before_the_diagnostic_mammogram_is_done(masses):
    case = opened(masses, laterality="right")
    accept(case, "ultrasound_result", SUSPICIOUS_US, MAMMO_AT)
    refusal = refuse(case, "biopsy_scheduled", SCHEDULE_US, MAMMO_AT + days(1))
    assert refusal.guard == "G1"
    assert "the right breast" in refusal.message


def test_g1_allows_the_biopsy_once_both_reads_are_done(masses):
    case = worked_up(masses, SUSPICIOUS_MAMMO, SUSPICIOUS_US)
    accept(case, "biopsy_scheduled", SCHEDULE_US, LATER)
    assert case.open_step("us_guided_biopsy").status == StepStatus.scheduled


# --- G2: the route matches the modality that sees the lesion -------------------------------------------------


def occult_on_ultrasound(pathway: Pathway) -> MemoryCase:
    return worked_up(
        pathway,
        {"birads": "4C", "seen_on_mammography": True},
        {"ultrasound_finding": "no_correlate", "birads": "4C"},
        finding_type="architectural_distortion",
    )


@pytest.mark.parametrize(
    ("kind", "data"),
    [
        ("biopsy_scheduled", SCHEDULE_US),
        ("biopsy_performed", US_BIOPSY_DONE),
        ("biopsy_route_changed", {"route": "ultrasound", "reason": "easier"}),
    ],
)
def test_g2_refuses_an_ultrasound_guided_biopsy_of_an_ultrasound_occult_lesion(masses, kind, data):
    case = occult_on_ultrasound(masses)
    refusal = refuse(case, kind, data, LATER)
    assert refusal.guard == "G2"
    assert refusal.field == "route"
    assert "ultrasound-occult" in refusal.message


def test_g2_refuses_a_repeat_ultrasound_guided_biopsy_of_an_ultrasound_occult_lesion(masses):
    case = occult_on_ultrasound(masses)
    accept(case, "biopsy_performed", {"route": "stereotactic", "cores": 8}, BIOPSY_AT)
    accept(case, "pathology_result", {"category": "high_risk", "diagnosis": "adh", "concordant": True}, PATHOLOGY_AT)
    refusal = refuse(case, "repeat_biopsy_ordered", {"route": "ultrasound", "reason": "x"}, PATHOLOGY_AT)
    assert refusal.guard == "G2"
    accept(case, "repeat_biopsy_ordered", {"route": "stereotactic", "reason": "x"}, PATHOLOGY_AT)
    assert "stereotactic_biopsy" in case.open_kinds()


def test_g2_allows_the_mammographic_route_for_an_ultrasound_occult_lesion(masses):
    case = occult_on_ultrasound(masses)
    accept(case, "biopsy_scheduled", {"route": "stereotactic", "scheduled_for": "2026-03-12T10:00:00+00:00"}, LATER)
    assert case.open_step("stereotactic_biopsy").status == StepStatus.scheduled


def test_g2_refuses_stereotactic_guidance_for_a_lesion_not_seen_on_mammography(masses):
    case = mri_only_case(masses)
    for route in ("stereotactic", "tomosynthesis"):
        refusal = refuse(case, "biopsy_route_changed", {"route": route, "reason": "x"}, LATER)
        assert refusal.guard == "G2"
        assert "did not show the lesion" in refusal.message


def test_g2_refuses_mri_guidance_without_an_mri_read_that_sees_the_lesion(masses):
    case = worked_up(
        masses,
        {"birads": "4A", "seen_on_mammography": False},
        {"ultrasound_finding": "no_correlate", "birads": "4A"},
        finding_type="asymmetry",
    )
    mri = case.open_step("mri_biopsy")
    schedule = {"route": "mri", "scheduled_for": "2026-03-12T10:00:00+00:00"}
    refusal = refuse(case, "biopsy_scheduled", schedule, LATER)
    assert refusal.guard == "G2"
    assert "No MRI read records the lesion" in refusal.message
    accept(case, "mri_result", {"birads": "4A", "seen_on_mri": True}, LATER)
    accept(case, "biopsy_scheduled", schedule, LATER)
    assert step(case, mri.id).status == StepStatus.scheduled


def test_g2_an_ultrasound_without_correlate_does_not_clear_a_suspicious_mammogram(masses):
    case = opened(masses, finding_type="architectural_distortion")
    accept(case, "diagnostic_mammogram_result", {"birads": "4B", "seen_on_mammography": True}, MAMMO_AT)
    refusal = refuse(case, "ultrasound_result", NEGATIVE_US, US_AT)
    assert refusal.guard == "G2"
    assert "BI-RADS 4B" in refusal.message and "does not clear" in refusal.message
    decision = accept(
        case, "ultrasound_result", {**NEGATIVE_US, "override_reason": "summation on tomosynthesis"}, US_AT
    )
    assert any("without a correlate" in warning for warning in decision.warnings)


# --- G3: clip placed, and documented on the post-biopsy mammogram ----------------------------------------------


def us_biopsied(pathway: Pathway) -> MemoryCase:
    case = worked_up(pathway, SUSPICIOUS_MAMMO, SUSPICIOUS_US)
    accept(case, "biopsy_performed", US_BIOPSY_DONE, BIOPSY_AT)
    return case


@pytest.mark.parametrize("clip", [False, None])
def test_g3_refuses_an_ultrasound_guided_biopsy_without_a_clip(masses, clip):
    case = worked_up(masses, SUSPICIOUS_MAMMO, SUSPICIOUS_US)
    refusal = refuse(case, "biopsy_performed", {**US_BIOPSY_DONE, "clip_placed": clip}, BIOPSY_AT)
    assert refusal.guard == "G3"
    assert "places a clip" in refusal.message


def test_g3_an_ultrasound_guided_biopsy_without_a_clip_is_accepted_with_a_reason(masses):
    case = worked_up(masses, SUSPICIOUS_MAMMO, SUSPICIOUS_US)
    data = {**US_BIOPSY_DONE, "clip_placed": False, "override_reason": "cyst aspirated completely"}
    decision = accept(case, "biopsy_performed", data, BIOPSY_AT)
    assert any("No clip placed" in warning for warning in decision.warnings)
    assert "post_biopsy_mammogram" not in case.open_kinds()


def test_g3_flags_fewer_than_two_cores(masses):
    case = worked_up(masses, SUSPICIOUS_MAMMO, SUSPICIOUS_US)
    decision = accept(case, "biopsy_performed", {**US_BIOPSY_DONE, "cores": 1}, BIOPSY_AT)
    assert any("Several cores" in warning for warning in decision.warnings)


@pytest.mark.parametrize("data", [{"clip": "not_seen", "two_views": True}, {}, {"two_views": True}])
def test_g3_the_post_biopsy_mammogram_cannot_be_completed_without_documenting_the_clip(masses, data):
    case = us_biopsied(masses)
    refusal = refuse(case, "post_biopsy_mammogram_done", data, BIOPSY_AT)
    assert refusal.guard == "G3"
    assert refusal.field == "clip"
    assert "documents the clip" in refusal.message
    assert "post_biopsy_mammogram" in case.open_kinds()


def test_g3_a_migrated_clip_needs_a_note(masses):
    case = us_biopsied(masses)
    refusal = refuse(case, "post_biopsy_mammogram_done", {"clip": "migrated", "two_views": True}, BIOPSY_AT)
    assert refusal.guard == "G3" and refusal.field == "note"
    decision = accept(
        case,
        "post_biopsy_mammogram_done",
        {"clip": "migrated", "two_views": True, "migration_mm": 12, "note": "12 mm lateral, along the needle track"},
        BIOPSY_AT,
    )
    assert any("migrated" in warning for warning in decision.warnings)
    assert "post_biopsy_mammogram" not in case.open_kinds()


def test_g3_flags_a_post_biopsy_mammogram_without_two_views(masses):
    case = us_biopsied(masses)
    decision = accept(case, "post_biopsy_mammogram_done", {"clip": "at_biopsy_site", "two_views": False}, BIOPSY_AT)
    assert any("two views" in warning for warning in decision.warnings)


# --- G4: priors --------------------------------------------------------------------------------------------


def test_g4_prior_films_unobtainable_needs_a_reason(masses):
    case = opened(masses)
    refusal = refuse(case, "prior_films_unobtainable", {"facility_id": 11, "reason": ""}, MAMMO_AT)
    assert refusal.guard == "G4"
    decision = accept(case, "prior_films_unobtainable", {"facility_id": 11, "reason": "facility closed"}, MAMMO_AT)
    assert len(decision.cancel) == 1
    accept(case, "prior_films_received", {"facility_id": 12, "comparison": "new"}, MAMMO_AT)
    assert "prior_film_request" not in case.open_kinds()


# --- G5: assessment against the recorded findings ------------------------------------------------------------


@pytest.mark.parametrize(
    ("descriptor", "words"),
    [
        ({"margin": "spiculated"}, "spiculated margin"),
        ({"margin": "indistinct"}, "indistinct margin"),
        ({"shape": "irregular"}, "irregular shape"),
    ],
)
@pytest.mark.parametrize("birads", ["2", "3"])
def test_g5_low_assessment_with_a_suspicious_mammographic_descriptor(masses, descriptor, words, birads):
    case = opened(masses)
    data = {"birads": birads, "seen_on_mammography": True, **descriptor}
    refusal = refuse(case, "diagnostic_mammogram_result", data, MAMMO_AT)
    assert refusal.guard == "G5"
    assert f"BI-RADS {birads} conflicts with" in refusal.message and words in refusal.message
    decision = accept(case, "diagnostic_mammogram_result", {**data, "override_reason": "post-surgical"}, MAMMO_AT)
    assert any(words in warning and "override reason recorded" in warning for warning in decision.warnings)


@pytest.mark.parametrize("birads", ["2", "3"])
def test_g5_low_assessment_with_a_not_parallel_orientation(masses, birads):
    case = opened(masses)
    data = {"ultrasound_finding": "solid_mass", "birads": birads, "orientation": "not_parallel"}
    refusal = refuse(case, "ultrasound_result", data, US_AT)
    assert refusal.guard == "G5" and "not parallel" in refusal.message
    accept(case, "ultrasound_result", {**data, "override_reason": "reviewed"}, US_AT)


def test_g5_reads_the_descriptor_recorded_earlier(masses):
    mammo = {"birads": "4B", "seen_on_mammography": True, "shape": "irregular"}
    case = worked_up(masses, mammo, {**SUSPICIOUS_US, "shape": None, "orientation": "parallel"})
    refusal = refuse(case, "assessment", {"birads": "2"}, LATER)  # irregular shape on the mammogram
    assert refusal.guard == "G5" and "irregular shape" in refusal.message


def test_g5_benign_descriptors_pass_without_warnings(masses):
    case = opened(masses)
    decision = accept(case, "ultrasound_result", PROBABLY_BENIGN_US, US_AT)
    assert decision.warnings == []


def test_g5_flags_a_probably_benign_mass_without_a_circumscribed_margin(masses):
    case = opened(masses)
    decision = accept(case, "ultrasound_result", {**PROBABLY_BENIGN_US, "margin": "microlobulated"}, US_AT)
    assert any("circumscribed" in warning and "microlobulated" in warning for warning in decision.warnings)


@pytest.mark.parametrize("birads", ["4A", "4B", "4C", "5"])
def test_g5_suspicious_assessment_on_a_fat_containing_mass(masses, birads):
    case = opened(masses)
    data = {"birads": birads, "seen_on_mammography": True, "shape": "oval", "mass_density": "fat_containing"}
    refusal = refuse(case, "diagnostic_mammogram_result", data, MAMMO_AT)
    assert refusal.guard == "G5" and "fat-containing" in refusal.message
    decision = accept(case, "diagnostic_mammogram_result", {**data, "override_reason": "new since priors"}, MAMMO_AT)
    assert any("fat-containing" in warning for warning in decision.warnings)


def test_g5_fat_containing_mass_that_grew_may_be_upgraded_at_followup(masses):
    case = worked_up(
        masses,
        {"birads": "0", "seen_on_mammography": True, "mass_density": "fat_containing", "shape": "oval"},
        PROBABLY_BENIGN_US,
        facility_ids=(),
    )
    stable_upgrade = {"birads": "4A", "change": "stable"}
    assert refuse(case, "followup_imaging_result", stable_upgrade, SIX_MONTHS).guard == "G5"
    accept(
        case,
        "followup_imaging_result",
        {"birads": "4A", "change": "increased", "volume_increase_percent": 40},
        SIX_MONTHS,
    )


@pytest.mark.parametrize("birads", ["3", "4A", "5"])
def test_g5_a_simple_cyst_is_birads_2(masses, birads):
    case = opened(masses)
    data = {"ultrasound_finding": "simple_cyst", "birads": birads}
    refusal = refuse(case, "ultrasound_result", data, US_AT)
    assert refusal.guard == "G5" and "simple cyst" in refusal.message
    accept(case, "ultrasound_result", {**data, "override_reason": "debris on second look"}, US_AT)


def test_g5_developing_asymmetry_kept_low_needs_a_reason(masses):
    case = opened(masses, finding_type="developing_asymmetry")
    data = {"birads": "3", "seen_on_mammography": True}
    refusal = refuse(case, "diagnostic_mammogram_result", data, MAMMO_AT)
    assert refusal.guard == "G5" and "developing asymmetry" in refusal.message
    accept(case, "diagnostic_mammogram_result", {**data, "override_reason": "proven benign: cyst"}, MAMMO_AT)


def test_g5_developing_asymmetry_that_did_not_persist_needs_no_reason(masses):
    case = opened(masses, finding_type="developing_asymmetry")
    accept(case, "diagnostic_mammogram_result", {"birads": "1", "seen_on_mammography": False}, MAMMO_AT)


def test_g5_architectural_distortion_kept_low_needs_surgical_history_or_a_reason(masses):
    case = opened(masses, finding_type="architectural_distortion")
    data = {"birads": "2", "seen_on_mammography": True}
    refusal = refuse(case, "diagnostic_mammogram_result", data, MAMMO_AT)
    assert refusal.guard == "G5" and "architectural distortion" in refusal.message
    decision = accept(case, "diagnostic_mammogram_result", {**data, "post_surgical_site": True}, MAMMO_AT)
    assert decision.warnings == []


def test_g5_global_asymmetry_may_be_birads_2(masses):
    case = opened(masses, finding_type="global_asymmetry")
    decision = accept(case, "diagnostic_mammogram_result", {"birads": "2", "seen_on_mammography": True}, MAMMO_AT)
    assert decision.warnings == []


# --- G6: no image-guided route only for a listed reason ----------------------------------------------------------


@pytest.mark.parametrize("data", [{"reason": "surgeon prefers"}, {}, {"reason": ""}])
def test_g6_refuses_an_infeasible_route_without_a_listed_reason(masses, data):
    case = worked_up(masses, SUSPICIOUS_MAMMO, SUSPICIOUS_US)
    refusal = refuse(case, "image_guided_infeasible", data, LATER)
    assert refusal.guard == "G6"
    assert refusal.field == "reason"
    for reason in INFEASIBLE_REASONS:
        assert reason in refusal.message


# --- other checks carried over --------------------------------------------------------------------------------


def test_result_letter_without_the_density_statement_needs_a_reason(masses):
    case = opened(masses)
    accept(case, "diagnostic_mammogram_result", SUSPICIOUS_MAMMO, MAMMO_AT)
    letter = case.open_step("result_letter")
    assert letter.due_at == MAMMO_AT + days(7)  # MQSA: 7 days for BI-RADS 4/5
    refusal = refuse(case, "result_letter_sent", {"density_sentence_included": False}, MAMMO_AT)
    assert "density statement" in refusal.message and refusal.guard is None
    decision = accept(
        case, "result_letter_sent", {"density_sentence_included": False, "override_reason": "sent separately"}, MAMMO_AT
    )
    assert any("without the density statement" in warning for warning in decision.warnings)


def test_missed_appointment_contact_attempts_lost_and_back(masses):
    case = opened(masses)
    mammogram = case.open_step("diagnostic_mammogram")
    accept(case, "appointment_missed", {"step": "diagnostic_mammogram"}, MAMMO_AT)
    assert "patient_contact" in case.open_kinds()
    refusal = refuse(case, "lost_to_follow_up_declared", {"reason": "no answer"}, MAMMO_AT)
    assert "every contact attempt" in refusal.message
    for offset, method in enumerate(("call", "call", "letter"), start=1):
        outcome = "letter_sent" if method == "letter" else "no_answer"
        accept(case, "contact_attempt", {"method": method, "outcome": outcome}, MAMMO_AT + days(offset))
    lost = accept(case, "lost_to_follow_up_declared", {"reason": "no contact"}, MAMMO_AT + days(20))
    assert lost.status == "lost_to_follow_up"
    assert {"lost_patient_recontact", "referrer_lost_notice"} <= set(case.open_kinds())
    # the navigator's own paperwork does not bring the patient back ...
    accept(case, "referrer_notified", {"channel": "fax"}, MAMMO_AT + days(21))
    assert case.state.status == CaseStatus.lost_to_follow_up
    # ... a booking does
    back = accept(
        case,
        "appointment_booked",
        {"step": "diagnostic_mammogram", "scheduled_for": "2026-04-10T09:00:00+00:00"},
        MAMMO_AT + days(25),
    )
    assert back.status == "open"
    assert "lost_patient_recontact" not in case.open_kinds()
    assert step(case, mammogram.id).status == StepStatus.scheduled


def test_a_missed_biopsy_starts_contact_attempts(masses):
    case = worked_up(masses, SUSPICIOUS_MAMMO, SUSPICIOUS_US)
    accept(case, "biopsy_scheduled", SCHEDULE_US, LATER)
    decision = accept(case, "appointment_missed", {"step": "us_guided_biopsy"}, at_time(2026, 3, 12, 12))
    assert [s.kind for s in decision.create] == ["patient_contact"]
    assert case.open_step("us_guided_biopsy").status == StepStatus.pending
