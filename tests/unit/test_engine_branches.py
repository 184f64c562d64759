"""Every branch of the calcifications pathway, through the pure engine (no database).

Due times are computed from the numbers in config/pathways/calcifications.yaml; month-based ones
are written out as calendar dates so the engine's month arithmetic is checked, not reused.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from tests.factories import (
    BENIGN_MAG,
    PROBABLY_BENIGN_MAG,
    SEED_FACILITIES,
    STEREOTACTIC_DONE,
    SUSPICIOUS_MAG,
    MemoryCase,
)
from tracking.pathway.decision import CaseState, Decision, NewEvent, OpeningFacts, Refusal, StepState
from tracking.pathway.engine import decide, plan_opening
from tracking.pathway.vocabulary import CaseStatus, StepStatus

from .support import NOW, accept, at_time, days, open_rows, refuse, step, steps_of

MAG_AT = NOW + days(3)  # 2026-03-05 09:00
INFEASIBLE_REASONS = [
    "breast_too_small",
    "breast_too_thin",
    "posterior_or_superficial",
    "widely_separated",
    "poorly_visualised",
]
VALID_EVENTS = {
    "magnification_result": SUSPICIOUS_MAG,
    "assessment": {"birads": "4B"},
    "ultrasound_result": {"findings": "no solid mass"},
    "prior_films_received": {"facility_id": 11, "comparison": "new"},
    "prior_films_unobtainable": {"facility_id": 11, "reason": "facility closed"},
    "biopsy_scheduled": {"procedure": "stereotactic", "scheduled_for": "2026-03-20T09:00:00+00:00"},
    "stereotactic_infeasible": {"reason": "breast_too_thin"},
    "biopsy_performed": STEREOTACTIC_DONE,
    "pathology_result": {"category": "benign", "diagnosis": "fibroadenoma", "concordant": True},
    "repeat_biopsy_ordered": {"reason": "discordant result"},
    "surgical_consultation_done": {"plan": "excision"},
    "followup_imaging_result": {"birads": "3", "change": "stable"},
    "result_letter_sent": {"density_sentence_included": True},
    "screening_done": {"birads": "1"},
}


def opened(pathway, **kwargs) -> MemoryCase:
    return MemoryCase.open(pathway, NOW, **kwargs)


def opening_rows(decision: Decision) -> list[tuple[str, str | None, int | None, datetime, str]]:
    rows = [(s.kind, s.laterality, s.facility_id, s.due_at, s.status) for s in decision.create]
    return sorted(rows, key=lambda row: (row[0], row[1] or "", row[2] or 0))


# --- opening ----------------------------------------------------------------------------------------


def test_seed_opening_creates_exactly_the_immediate_steps(pathway):
    decision = plan_opening(pathway, OpeningFacts("calcifications", "left", "c", "0", SEED_FACILITIES), NOW)
    assert isinstance(decision, Decision)
    assert opening_rows(decision) == [
        ("annual_screening", "right", None, at_time(2027, 4, 1), "pending"),
        ("final_assessment", None, None, NOW + days(30), "pending"),
        ("magnification_views", "left", None, NOW + days(7), "pending"),
        ("prior_film_request", None, 11, NOW + days(30), "pending"),
        ("prior_film_request", None, 12, NOW + days(30), "pending"),
        ("ultrasound", "bilateral", None, NOW + days(14), "pending"),
    ]
    assert decision.birads == "0"
    assert decision.status is None
    assert decision.warnings == []


@pytest.mark.parametrize("density", ["a", "b"])
def test_non_dense_opening_has_no_ultrasound(pathway, density):
    case = opened(pathway, density=density)
    assert case.open_kinds() == [
        "annual_screening",
        "final_assessment",
        "magnification_views",
        "prior_film_request",
        "prior_film_request",
    ]


@pytest.mark.parametrize("density", ["c", "d"])
def test_dense_opening_has_bilateral_ultrasound(pathway, density):
    case = opened(pathway, density=density)
    assert case.open_step("ultrasound").laterality == "bilateral"


def test_opening_without_facilities_has_no_priors_and_no_final_assessment(pathway):
    case = opened(pathway, facility_ids=())
    assert open_rows(case) == [
        ("annual_screening", "right", None, at_time(2027, 4, 1)),
        ("magnification_views", "left", None, NOW + days(7)),
        ("ultrasound", "bilateral", None, NOW + days(14)),
    ]


def test_right_breast_finding_screens_the_left_breast(pathway):
    case = opened(pathway, laterality="right")
    assert case.open_step("annual_screening").laterality == "left"
    assert case.open_step("magnification_views").laterality == "right"


def test_bilateral_finding_has_no_other_breast_screening(pathway):
    case = opened(pathway, laterality="bilateral")
    assert "annual_screening" not in case.open_kinds()
    assert case.open_step("magnification_views").laterality == "bilateral"


def test_finding_type_outside_the_pathway_is_refused(pathway):
    result = plan_opening(pathway, OpeningFacts("mass", "left", "c", "0", SEED_FACILITIES), NOW)
    assert isinstance(result, Refusal)
    assert "calcifications" in result.message
    assert "mass" in result.message


def test_opening_birads_outside_vocabulary_is_refused(pathway):
    result = plan_opening(pathway, OpeningFacts("calcifications", "left", "c", "7", ()), NOW)
    assert isinstance(result, Refusal)
    assert result.field == "birads"


# --- magnification result ---------------------------------------------------------------------------


@pytest.mark.parametrize("birads", ["4A", "4B", "4C", "5"])
def test_suspicious_magnification_leads_to_stereotactic_biopsy(pathway, birads):
    case = opened(pathway)
    magnification = case.open_step("magnification_views")
    final = case.open_step("final_assessment")
    decision = accept(case, "magnification_result", {**SUSPICIOUS_MAG, "birads": birads}, MAG_AT)
    assert {change.step_id for change in decision.complete} == {magnification.id, final.id}
    assert decision.birads == birads
    assert case.state.birads == birads
    assert open_rows(case) == [
        ("annual_screening", "right", None, at_time(2027, 4, 1)),
        ("prior_film_request", None, 11, NOW + days(30)),
        ("prior_film_request", None, 12, NOW + days(30)),
        ("result_letter", None, None, MAG_AT + days(7)),
        ("stereotactic_biopsy", "left", None, MAG_AT + days(7)),
        ("ultrasound", "bilateral", None, NOW + days(14)),
    ]
    assert case.state.status == CaseStatus.open
    assert case.state.disposition is None


def test_probably_benign_magnification_starts_short_interval_followup(pathway):
    case = opened(pathway)
    decision = accept(case, "magnification_result", PROBABLY_BENIGN_MAG, MAG_AT)
    assert decision.birads == "3"
    created = sorted((s.kind, s.laterality, s.due_at) for s in decision.create)
    assert created == [
        # 2026-03-05 + 6 months = 2026-09-05, + 30 days window = 2026-10-05
        ("followup_6_month", "left", at_time(2026, 10, 5)),
        ("result_letter", None, MAG_AT + days(30)),
    ]
    assert "stereotactic_biopsy" not in case.open_kinds()
    assert case.state.status == CaseStatus.open


@pytest.mark.parametrize("birads", ["1", "2"])
def test_negative_or_benign_magnification_returns_to_screening_and_closes_when_workup_done(pathway, birads):
    case = opened(pathway)
    right_screening = case.open_step("annual_screening")
    decision = accept(case, "magnification_result", {**BENIGN_MAG, "birads": birads}, MAG_AT)

    assert decision.disposition == "returned_to_screening"
    assert [change.step_id for change in decision.cancel] == [right_screening.id]
    assert step(case, right_screening.id).status == StepStatus.cancelled
    bilateral = case.open_step("annual_screening")
    assert (bilateral.laterality, bilateral.due_at) == ("bilateral", at_time(2027, 4, 4))
    assert case.open_step("result_letter").due_at == MAG_AT + days(30)
    assert case.state.status == CaseStatus.open
    assert case.state.disposition == "returned_to_screening"
    assert case.open_kinds() == [
        "annual_screening",
        "prior_film_request",
        "prior_film_request",
        "result_letter",
        "ultrasound",
    ]

    remaining = [
        ("result_letter_sent", {"density_sentence_included": True}),
        ("ultrasound_result", {"findings": "no sonographic correlate"}),
        ("prior_films_received", {"facility_id": 11, "comparison": "stable"}),
    ]
    for offset, (kind, data) in enumerate(remaining, start=4):
        decision = accept(case, kind, data, NOW + days(offset))
        assert decision.status is None
        assert case.state.status == CaseStatus.open

    last = accept(case, "prior_films_unobtainable", {"facility_id": 12, "reason": "records destroyed"}, NOW + days(9))
    assert last.status == "closed"
    assert [change.step_id for change in last.hand_off] == [bilateral.id]
    assert case.state.status == CaseStatus.closed
    assert case.state.disposition == "returned_to_screening"
    assert step(case, bilateral.id).status == StepStatus.handed_off
    assert case.open_kinds() == []


def test_incomplete_magnification_keeps_the_open_final_assessment(pathway):
    case = opened(pathway)
    final = case.open_step("final_assessment")
    decision = accept(case, "magnification_result", {**BENIGN_MAG, "birads": "0"}, MAG_AT)
    assert [s.kind for s in decision.create] == ["result_letter"]
    assert decision.create[0].due_at == MAG_AT + days(30)
    assert case.open_step("final_assessment") == final
    assert case.state.birads == "0"


def test_incomplete_magnification_creates_a_final_assessment_when_none_is_open(pathway):
    case = opened(pathway, facility_ids=())
    decision = accept(case, "magnification_result", {**BENIGN_MAG, "birads": "0"}, MAG_AT)
    assert sorted((s.kind, s.due_at) for s in decision.create) == [
        ("final_assessment", MAG_AT + days(30)),
        ("result_letter", MAG_AT + days(30)),
    ]


@pytest.mark.parametrize(
    ("birads", "created"),
    [("4B", "stereotactic_biopsy"), ("3", "followup_6_month"), ("2", "annual_screening")],
)
def test_non_zero_assessment_completes_the_open_final_assessment(pathway, birads, created):
    case = opened(pathway)
    accept(case, "magnification_result", {**BENIGN_MAG, "birads": "0"}, MAG_AT)
    final = case.open_step("final_assessment")
    decision = accept(case, "assessment", {"birads": birads}, MAG_AT + days(10))
    assert final.id in [change.step_id for change in decision.complete]
    assert step(case, final.id).status == StepStatus.completed
    assert "final_assessment" not in case.open_kinds()
    assert created in [s.kind for s in decision.create]


def test_zero_assessment_leaves_the_final_assessment_open(pathway):
    case = opened(pathway)
    accept(case, "magnification_result", {**BENIGN_MAG, "birads": "0"}, MAG_AT)
    final = case.open_step("final_assessment")
    decision = accept(case, "assessment", {"birads": "0"}, MAG_AT + days(10))
    assert decision.complete == []
    assert case.open_step("final_assessment") == final


# --- stereotactic infeasible, scheduling, biopsy -------------------------------------------------------


def suspicious_case(pathway, **kwargs) -> MemoryCase:
    case = opened(pathway, **kwargs)
    accept(case, "magnification_result", SUSPICIOUS_MAG, MAG_AT)
    return case


@pytest.mark.parametrize("reason", INFEASIBLE_REASONS)
def test_stereotactic_infeasible_moves_to_open_surgical_biopsy(pathway, reason):
    case = suspicious_case(pathway)
    stereotactic = case.open_step("stereotactic_biopsy")
    when = MAG_AT + days(2)
    decision = accept(case, "stereotactic_infeasible", {"reason": reason}, when)
    assert [(change.step_id, change.reason) for change in decision.cancel] == [(stereotactic.id, reason)]
    assert step(case, stereotactic.id).status == StepStatus.cancelled
    surgical = case.open_step("open_surgical_biopsy")
    assert (surgical.laterality, surgical.due_at) == ("left", when + days(14))
    assert "stereotactic_biopsy" not in case.open_kinds()


def test_biopsy_scheduled_marks_the_step_scheduled_and_performed_leads_to_concordance(pathway):
    case = suspicious_case(pathway)
    stereotactic = case.open_step("stereotactic_biopsy")
    booked_for = at_time(2026, 3, 10, 14)
    decision = accept(
        case,
        "biopsy_scheduled",
        {"procedure": "stereotactic", "guidance": "stereotactic", "scheduled_for": "2026-03-10T14:00:00Z"},
        MAG_AT + days(1),
    )
    assert decision.schedule == [(stereotactic.id, booked_for)]
    assert step(case, stereotactic.id).status == StepStatus.scheduled
    assert step(case, stereotactic.id).due_at == stereotactic.due_at

    performed_at = at_time(2026, 3, 10, 15)
    decision = accept(case, "biopsy_performed", STEREOTACTIC_DONE, performed_at)
    assert [change.step_id for change in decision.complete] == [stereotactic.id]
    assert decision.warnings == []
    assert step(case, stereotactic.id).status == StepStatus.completed
    review = case.open_step("rad_path_concordance")
    assert (review.laterality, review.due_at) == ("left", performed_at + days(7))


def test_open_surgical_biopsy_scheduled_and_performed(pathway):
    case = suspicious_case(pathway)
    accept(case, "stereotactic_infeasible", {"reason": "breast_too_small"}, MAG_AT + days(1))
    surgical = case.open_step("open_surgical_biopsy")
    accept(
        case,
        "biopsy_scheduled",
        {"procedure": "open_surgical", "guidance": "wire_localisation", "scheduled_for": "2026-03-12T08:00:00+00:00"},
        MAG_AT + days(2),
    )
    assert step(case, surgical.id).status == StepStatus.scheduled
    accept(case, "biopsy_performed", {"procedure": "open_surgical", "guidance": "wire_localisation"}, MAG_AT + days(7))
    assert step(case, surgical.id).status == StepStatus.completed
    assert case.open_step("rad_path_concordance").due_at == MAG_AT + days(14)


def test_biopsy_for_a_procedure_with_no_open_step_is_refused(pathway):
    case = suspicious_case(pathway)
    refusal = refuse(
        case,
        "biopsy_scheduled",
        {"procedure": "open_surgical", "scheduled_for": "2026-03-12T08:00:00+00:00"},
        MAG_AT + days(1),
    )
    assert "open surgical" in refusal.message


# --- pathology ---------------------------------------------------------------------------------------

BIOPSY_AT = MAG_AT + days(4)
PATHOLOGY_AT = MAG_AT + days(8)


def biopsied_case(pathway, **kwargs) -> MemoryCase:
    case = suspicious_case(pathway, **kwargs)
    accept(case, "biopsy_performed", STEREOTACTIC_DONE, BIOPSY_AT)
    return case


@pytest.mark.parametrize(
    ("diagnosis", "dcis_warning"),
    [("dcis", True), ("invasive_carcinoma", False)],
)
def test_malignant_pathology_is_birads_6_and_goes_to_surgery(pathway, diagnosis, dcis_warning):
    case = biopsied_case(pathway)
    review = case.open_step("rad_path_concordance")
    decision = accept(
        case, "pathology_result", {"category": "malignant", "diagnosis": diagnosis, "concordant": True}, PATHOLOGY_AT
    )
    assert [change.step_id for change in decision.complete] == [review.id]
    assert decision.birads == "6"
    assert case.state.birads == "6"
    assert [(s.kind, s.laterality, s.due_at) for s in decision.create] == [
        ("surgical_consultation", "left", PATHOLOGY_AT + days(28))
    ]
    upgrade = [w for w in decision.warnings if "DCIS" in w]
    if dcis_warning:
        assert len(upgrade) == 1
        assert "upgraded to invasive" in upgrade[0]
        assert "1 case in 5" in upgrade[0]
    else:
        assert decision.warnings == []


@pytest.mark.parametrize(
    ("category", "diagnosis", "concordant"),
    [
        ("high_risk", "adh", True),
        ("high_risk", "lcis", True),
        ("high_risk", "radial_scar_with_atypia", False),
        ("benign", "fibrocystic_change", False),
    ],
)
def test_high_risk_or_discordant_pathology_goes_to_surgical_consultation(pathway, category, diagnosis, concordant):
    case = biopsied_case(pathway)
    decision = accept(
        case,
        "pathology_result",
        {"category": category, "diagnosis": diagnosis, "concordant": concordant},
        PATHOLOGY_AT,
    )
    assert decision.birads is None
    assert case.state.birads == "4B"
    assert [(s.kind, s.due_at) for s in decision.create] == [("surgical_consultation", PATHOLOGY_AT + days(28))]
    assert decision.warnings == []


def test_benign_concordant_pathology_goes_to_6_month_followup(pathway):
    case = biopsied_case(pathway)
    decision = accept(
        case, "pathology_result", {"category": "benign", "diagnosis": "fibroadenoma", "concordant": True}, PATHOLOGY_AT
    )
    # PATHOLOGY_AT = 2026-03-13; + 6 months = 2026-09-13; + 30 days = 2026-10-13
    assert [(s.kind, s.laterality, s.due_at) for s in decision.create] == [
        ("followup_6_month", "left", at_time(2026, 10, 13))
    ]
    assert "surgical_consultation" not in case.open_kinds()


def test_pathology_booleans_given_as_words_are_understood(pathway):
    case = biopsied_case(pathway)
    decision = accept(
        case, "pathology_result", {"category": "benign", "diagnosis": "other_benign", "concordant": "no"}, PATHOLOGY_AT
    )
    assert decision.data["concordant"] is False
    assert [s.kind for s in decision.create] == ["surgical_consultation"]


@pytest.mark.parametrize(
    "pathology",
    [
        {"category": "high_risk", "diagnosis": "adh", "concordant": True},
        {"category": "benign", "diagnosis": "benign_calcifications", "concordant": False},
    ],
)
def test_repeat_biopsy_after_high_risk_or_discordant_replaces_the_consultation(pathway, pathology):
    case = biopsied_case(pathway)
    accept(case, "pathology_result", pathology, PATHOLOGY_AT)
    consultation = case.open_step("surgical_consultation")
    when = PATHOLOGY_AT + days(2)
    decision = accept(case, "repeat_biopsy_ordered", {"reason": "sampling error suspected"}, when)
    assert [change.step_id for change in decision.cancel] == [consultation.id]
    assert step(case, consultation.id).status == StepStatus.cancelled
    assert [(s.kind, s.laterality, s.due_at) for s in decision.create] == [
        ("stereotactic_biopsy", "left", when + days(7))
    ]
    assert "surgical_consultation" not in case.open_kinds()


@pytest.mark.parametrize(
    "pathology",
    [
        {"category": "benign", "diagnosis": "fibroadenoma", "concordant": True},
        {"category": "malignant", "diagnosis": "dcis", "concordant": True},
    ],
)
def test_repeat_biopsy_after_benign_concordant_or_malignant_is_refused(pathway, pathology):
    case = biopsied_case(pathway)
    accept(case, "pathology_result", pathology, PATHOLOGY_AT)
    refusal = refuse(case, "repeat_biopsy_ordered", {"reason": "patient request"}, PATHOLOGY_AT + days(1))
    assert "high-risk or discordant" in refusal.message
    assert refusal.guard is None


def test_repeat_biopsy_without_any_pathology_is_refused(pathway):
    case = suspicious_case(pathway)
    refusal = refuse(case, "repeat_biopsy_ordered", {"reason": "because"}, MAG_AT + days(1))
    assert "high-risk or discordant" in refusal.message


@pytest.mark.parametrize(
    ("category", "diagnosis"),
    [("benign", "dcis"), ("malignant", "adh"), ("high_risk", "fibroadenoma")],
)
def test_diagnosis_outside_its_category_is_refused_naming_it(pathway, category, diagnosis):
    case = biopsied_case(pathway)
    refusal = refuse(
        case, "pathology_result", {"category": category, "diagnosis": diagnosis, "concordant": True}, PATHOLOGY_AT
    )
    assert refusal.field == "diagnosis"
    assert f"'{diagnosis.replace('_', ' ')}' is not a {category.replace('_', ' ')} diagnosis" in refusal.message


def test_unknown_diagnosis_is_refused(pathway):
    case = biopsied_case(pathway)
    refusal = refuse(
        case, "pathology_result", {"category": "benign", "diagnosis": "lipoma", "concordant": True}, PATHOLOGY_AT
    )
    assert refusal.field == "diagnosis"
    assert "'lipoma'" in refusal.message


# --- BI-RADS 3 surveillance ---------------------------------------------------------------------------


def test_stable_surveillance_6_12_24_months_downgrades_and_returns_to_screening(pathway):
    case = opened(pathway, density="b", facility_ids=())
    right_screening = case.open_step("annual_screening")
    accept(case, "magnification_result", PROBABLY_BENIGN_MAG, MAG_AT)
    accept(case, "result_letter_sent", {"density_sentence_included": True}, MAG_AT + days(5))
    six = case.open_step("followup_6_month")
    assert six.due_at == at_time(2026, 10, 5)

    six_read = at_time(2026, 9, 8)
    decision = accept(case, "followup_imaging_result", {"birads": "3", "change": "stable"}, six_read)
    assert [change.step_id for change in decision.complete] == [six.id]
    # 2026-09-08 + 6 months = 2027-03-08; + 30 days = 2027-04-07
    assert sorted((s.kind, s.laterality, s.due_at) for s in decision.create) == [
        ("followup_12_month", "bilateral", at_time(2027, 4, 7)),
        ("result_letter", None, six_read + days(30)),
    ]
    twelve = case.open_step("followup_12_month")
    assert (twelve.laterality, twelve.due_at) == ("bilateral", at_time(2027, 4, 7))
    assert case.open_step("result_letter").due_at == six_read + days(30)
    assert case.state.birads == "3"
    accept(case, "result_letter_sent", {"density_sentence_included": True}, six_read + days(3))

    twelve_read = at_time(2027, 3, 10)
    accept(case, "followup_imaging_result", {"birads": "3", "change": "stable"}, twelve_read)
    assert step(case, twelve.id).status == StepStatus.completed
    twenty_four = case.open_step("followup_24_month")
    # 2027-03-10 + 12 months = 2028-03-10; + 30 days = 2028-04-09
    assert (twenty_four.laterality, twenty_four.due_at) == ("bilateral", at_time(2028, 4, 9))
    accept(case, "result_letter_sent", {"density_sentence_included": True}, twelve_read + days(3))

    final_read = at_time(2028, 3, 14)
    decision = accept(case, "followup_imaging_result", {"birads": "3", "change": "stable"}, final_read)
    assert decision.birads == "2"
    assert case.state.birads == "2"
    assert decision.disposition == "returned_to_screening"
    assert any("Stable through 3 follow-up exams" in w and "downgraded to BI-RADS 2" in w for w in decision.warnings), (
        decision.warnings
    )
    assert right_screening.id in [change.step_id for change in decision.cancel]
    bilateral = case.open_step("annual_screening")
    # 2028-03-14 + 12 months
    assert (bilateral.laterality, bilateral.due_at) == ("bilateral", at_time(2029, 4, 13))
    assert "followup_6_month" not in case.open_kinds()
    assert "followup_12_month" not in case.open_kinds()
    assert "followup_24_month" not in case.open_kinds()
    # the letter for the downgraded (BI-RADS 2) result has the 30-day deadline and keeps the case open
    assert case.open_step("result_letter").due_at == final_read + days(30)
    assert case.state.status == CaseStatus.open

    closing = accept(case, "result_letter_sent", {"density_sentence_included": True}, final_read + days(2))
    assert closing.status == "closed"
    assert step(case, bilateral.id).status == StepStatus.handed_off
    assert case.state.disposition == "returned_to_screening"


def test_followup_result_clamps_to_month_end(pathway):
    start = at_time(2026, 8, 31)
    case = MemoryCase.open(pathway, start, density="b", facility_ids=())
    accept(case, "magnification_result", PROBABLY_BENIGN_MAG, start)
    # 2026-08-31 + 6 months = 2027-02-28 (clamped); + 30 days = 2027-03-30
    assert case.open_step("followup_6_month").due_at == at_time(2027, 3, 30)


@pytest.mark.parametrize("birads", ["4A", "4B", "4C", "5"])
def test_followup_upgraded_to_suspicious_goes_to_biopsy(pathway, birads):
    case = opened(pathway, density="b", facility_ids=())
    accept(case, "magnification_result", PROBABLY_BENIGN_MAG, MAG_AT)
    six = case.open_step("followup_6_month")
    read = at_time(2026, 9, 4)
    decision = accept(
        case,
        "followup_imaging_result",
        {"birads": birads, "change": "new_features", "morphology": "fine_linear_branching"},
        read,
    )
    assert step(case, six.id).status == StepStatus.completed
    assert sorted((s.kind, s.due_at) for s in decision.create) == [
        ("result_letter", read + days(7)),
        ("stereotactic_biopsy", read + days(7)),
    ]
    assert not any(kind.startswith("followup_") for kind in case.open_kinds())
    assert case.state.birads == birads


def test_assessment_upgrade_cancels_open_followups(pathway):
    case = opened(pathway, density="b", facility_ids=())
    accept(case, "magnification_result", PROBABLY_BENIGN_MAG, MAG_AT)
    six = case.open_step("followup_6_month")
    when = MAG_AT + days(20)
    decision = accept(case, "assessment", {"birads": "4A", "morphology": "amorphous"}, when)
    assert six.id in [change.step_id for change in decision.cancel]
    assert step(case, six.id).status == StepStatus.cancelled
    assert case.open_step("stereotactic_biopsy").due_at == when + days(7)
    assert not any(kind.startswith("followup_") for kind in case.open_kinds())


def test_assessment_downgrade_cancels_the_open_biopsy(pathway):
    case = suspicious_case(pathway)
    stereotactic = case.open_step("stereotactic_biopsy")
    decision = accept(
        case, "assessment", {"birads": "3", "morphology": "round", "distribution": "grouped"}, MAG_AT + days(2)
    )
    assert stereotactic.id in [change.step_id for change in decision.cancel]
    assert not any("no longer needed" in w for w in decision.warnings)  # nobody was booked
    assert case.open_step("followup_6_month").laterality == "left"


def test_assessment_downgrade_of_a_booked_biopsy_says_to_tell_the_patient(pathway):
    case = suspicious_case(pathway)
    stereotactic = case.open_step("stereotactic_biopsy")
    booked = {"procedure": "stereotactic", "scheduled_for": (MAG_AT + days(5)).isoformat()}
    accept(case, "biopsy_scheduled", booked, MAG_AT + days(1))
    decision = accept(
        case, "assessment", {"birads": "3", "morphology": "round", "distribution": "grouped"}, MAG_AT + days(2)
    )
    assert stereotactic.id in [change.step_id for change in decision.cancel]
    assert any("no longer needed" in w and "tell the patient" in w for w in decision.warnings)


# --- prior films -------------------------------------------------------------------------------------


def test_prior_films_received_completes_only_that_facility(pathway):
    case = opened(pathway)
    request_11, request_12 = sorted(steps_of(case, "prior_film_request"), key=lambda s: s.facility_id)
    decision = accept(case, "prior_films_received", {"facility_id": "12", "comparison": "stable"}, NOW + days(3))
    assert [change.step_id for change in decision.complete] == [request_12.id]
    assert step(case, request_12.id).status == StepStatus.completed
    assert step(case, request_11.id).status == StepStatus.pending
    assert case.open_step("final_assessment").status == StepStatus.pending


def test_prior_films_unobtainable_cancels_only_that_facility(pathway):
    case = opened(pathway)
    request_11, request_12 = sorted(steps_of(case, "prior_film_request"), key=lambda s: s.facility_id)
    decision = accept(
        case, "prior_films_unobtainable", {"facility_id": 11, "reason": " facility closed "}, NOW + days(21)
    )
    assert [(change.step_id, change.reason) for change in decision.cancel] == [(request_11.id, "facility closed")]
    assert step(case, request_11.id).status == StepStatus.cancelled
    assert step(case, request_12.id).status == StepStatus.pending


@pytest.mark.parametrize(
    ("kind", "data"),
    [
        ("prior_films_received", {"facility_id": 99, "comparison": "new"}),
        ("prior_films_unobtainable", {"facility_id": 99, "reason": "never heard of us"}),
    ],
)
def test_prior_films_for_an_unknown_facility_are_refused(pathway, kind, data):
    case = opened(pathway)
    refusal = refuse(case, kind, data, NOW + days(3))
    assert "facility 99" in refusal.message


def test_prior_films_for_a_facility_already_done_are_refused(pathway):
    case = opened(pathway)
    accept(case, "prior_films_received", {"facility_id": 11, "comparison": "new"}, NOW + days(3))
    refusal = refuse(case, "prior_films_received", {"facility_id": 11, "comparison": "new"}, NOW + days(4))
    assert "facility 11" in refusal.message


# --- surgical consultation and case close ------------------------------------------------------------------


def test_surgical_consultation_done_refers_to_surgery_and_closes_when_nothing_remains(pathway):
    case = biopsied_case(pathway, density="b", facility_ids=())
    accept(case, "result_letter_sent", {"density_sentence_included": True}, MAG_AT + days(5))
    accept(case, "pathology_result", {"category": "malignant", "diagnosis": "dcis", "concordant": True}, PATHOLOGY_AT)
    consultation = case.open_step("surgical_consultation")
    screening = case.open_step("annual_screening")
    decision = accept(case, "surgical_consultation_done", {"plan": "wide local excision"}, PATHOLOGY_AT + days(10))
    assert [change.step_id for change in decision.complete] == [consultation.id]
    assert decision.disposition == "referred_to_surgery"
    assert decision.status == "closed"
    assert [change.step_id for change in decision.hand_off] == [screening.id]
    assert case.state.status == CaseStatus.closed
    assert case.state.disposition == "referred_to_surgery"
    assert case.state.birads == "6"
    assert step(case, screening.id).status == StepStatus.handed_off


def test_surgical_consultation_done_keeps_case_open_while_workup_remains(pathway):
    case = biopsied_case(pathway)
    accept(case, "pathology_result", {"category": "high_risk", "diagnosis": "adh", "concordant": True}, PATHOLOGY_AT)
    decision = accept(case, "surgical_consultation_done", {"plan": "excision"}, PATHOLOGY_AT + days(10))
    assert decision.disposition == "referred_to_surgery"
    assert decision.status is None
    assert case.state.status == CaseStatus.open
    assert case.open_kinds() == [
        "annual_screening",
        "prior_film_request",
        "prior_film_request",
        "result_letter",
        "ultrasound",
    ]
    later = PATHOLOGY_AT + days(11)
    accept(case, "ultrasound_result", {"findings": "nothing"}, later)
    accept(case, "result_letter_sent", {"density_sentence_included": True}, later)
    accept(case, "prior_films_received", {"facility_id": 11, "comparison": "new"}, later)
    assert case.state.status == CaseStatus.open
    closing = accept(case, "prior_films_received", {"facility_id": 12, "comparison": "new"}, later)
    assert closing.status == "closed"
    assert case.state.disposition == "referred_to_surgery"
    assert case.status_of("annual_screening") == [StepStatus.handed_off]


def test_completing_the_last_step_without_an_outcome_is_refused(pathway):
    """The invariant: no open case may be left without a next step."""
    state = CaseState(
        finding_type="calcifications",
        laterality="left",
        density="c",
        birads="4B",
        status="open",
        opened_at=NOW,
        steps=(
            StepState(1, "magnification_views", "completed", NOW + days(7), "left"),
            StepState(2, "ultrasound", "pending", NOW + days(14), "bilateral"),
            StepState(3, "annual_screening", "pending", NOW + days(365), "right"),
        ),
    )
    result = decide(pathway, state, NewEvent("ultrasound_result", {"findings": "none"}, NOW + days(2)), NOW + days(2))
    assert isinstance(result, Refusal)
    assert "the left breast" in result.message
    assert "no next step" in result.message


# --- refusals common to every event ----------------------------------------------------------------------


def closed_case(pathway) -> MemoryCase:
    case = opened(pathway, density="b", facility_ids=())
    accept(case, "magnification_result", BENIGN_MAG, MAG_AT)
    accept(case, "result_letter_sent", {"density_sentence_included": True}, MAG_AT + days(1))
    assert case.state.status == CaseStatus.closed
    return case


CLOSED_MESSAGE = (
    "This case is closed; its workup is over. Only 'Annual screening mammogram done' or "
    "'Annual screening documented as done elsewhere' can be recorded on it."
)
ON_CLOSED_CASE = {"screening_done", "screening_done_elsewhere"}


@pytest.mark.parametrize("kind", sorted(set(VALID_EVENTS) - ON_CLOSED_CASE))
def test_closed_case_refuses_every_event_but_screening(pathway, kind):
    case = closed_case(pathway)
    refusal = refuse(case, kind, VALID_EVENTS[kind], MAG_AT + days(2))
    assert refusal.message == CLOSED_MESSAGE


def test_closed_case_refuses_every_event_of_the_pathway_but_screening(pathway):
    """Also the events added to the pathway after this test was written (checked with no data)."""
    assert set(VALID_EVENTS) - ON_CLOSED_CASE <= set(pathway.events)
    assert {kind for kind, rule in pathway.events.items() if rule.on_closed_case} == ON_CLOSED_CASE
    case = closed_case(pathway)
    for kind in set(pathway.events) - ON_CLOSED_CASE:
        refusal = refuse(case, kind, VALID_EVENTS.get(kind, {}), MAG_AT + days(2))
        assert refusal.message == CLOSED_MESSAGE, kind


def test_closed_case_still_tracks_its_handed_off_screening(pathway):
    case = closed_case(pathway)
    screening = [s for s in case.state.steps if s.kind == "annual_screening" and s.status == StepStatus.handed_off]
    assert len(screening) == 1
    decision = accept(case, "screening_done", {"birads": "1"}, MAG_AT + days(300))
    assert [change.step_id for change in decision.complete] == [screening[0].id]
    assert case.state.status == CaseStatus.closed


def test_screening_done_elsewhere_needs_a_reason_and_ends_the_tracking(pathway):
    case = closed_case(pathway)
    refusal = refuse(case, "screening_done_elsewhere", {}, MAG_AT + days(300))
    assert refusal.field == "reason"
    decision = accept(
        case, "screening_done_elsewhere", {"reason": "done at St Mary's, report seen"}, MAG_AT + days(300)
    )
    assert len(decision.cancel) == 1
    assert not [s for s in case.state.steps if s.status in ("pending", "scheduled", "handed_off")]


def test_event_dated_in_the_future_is_refused(pathway):
    case = opened(pathway)
    refusal = refuse(case, "magnification_result", SUSPICIOUS_MAG, NOW + days(1), now=NOW)
    assert "in the future" in refusal.message
    assert "2026-03-03 09:00" in refusal.message


def test_event_within_clock_skew_is_accepted(pathway):
    case = opened(pathway)
    result = case.record("ultrasound_result", {"findings": "none"}, NOW + timedelta(minutes=4), now=NOW)
    assert isinstance(result, Decision), result
    late = opened(pathway)
    refusal = refuse(late, "ultrasound_result", {"findings": "none"}, NOW + timedelta(minutes=6), now=NOW)
    assert "in the future" in refusal.message


def test_event_dated_before_opening_is_refused(pathway):
    case = opened(pathway)
    refusal = refuse(case, "ultrasound_result", {"findings": "none"}, NOW - days(1), now=NOW)
    assert "before the case was opened" in refusal.message


def test_unknown_event_kind_is_refused(pathway):
    case = opened(pathway)
    refusal = refuse(case, "mri_result", {"findings": "none"}, NOW + days(1))
    assert f"'mri_result' is not an event of the calcifications pathway (version {pathway.version})" in refusal.message
    assert "magnification_result" in refusal.message


def test_unknown_field_is_refused_naming_it(pathway):
    case = opened(pathway)
    refusal = refuse(case, "magnification_result", {**SUSPICIOUS_MAG, "colour": "blue"}, MAG_AT)
    assert refusal.field == "colour"
    assert "'colour'" in refusal.message
    assert "'magnification_result' has no field" in refusal.message


@pytest.mark.parametrize("missing", ["birads", "morphology", "distribution"])
def test_missing_required_field_is_refused_naming_it(pathway, missing):
    case = opened(pathway)
    data = {name: value for name, value in SUSPICIOUS_MAG.items() if name != missing}
    refusal = refuse(case, "magnification_result", data, MAG_AT)
    assert refusal.field == missing
    assert refusal.message == f"'magnification_result' needs '{missing}'."


def test_blank_required_field_counts_as_missing(pathway):
    case = opened(pathway)
    refusal = refuse(case, "ultrasound_result", {"findings": "   "}, NOW + days(1))
    assert refusal.field == "findings"


@pytest.mark.parametrize(
    ("field", "value"),
    [("birads", "7"), ("morphology", "spiculated"), ("distribution", "everywhere"), ("extent_mm", "ten")],
)
def test_value_outside_vocabulary_is_refused_naming_the_field(pathway, field, value):
    case = opened(pathway)
    refusal = refuse(case, "magnification_result", {**SUSPICIOUS_MAG, field: value}, MAG_AT)
    assert refusal.field == field
    assert repr(value) in refusal.message


def test_naive_scheduled_for_is_refused(pathway):
    case = suspicious_case(pathway)
    refusal = refuse(
        case, "biopsy_scheduled", {"procedure": "stereotactic", "scheduled_for": "2026-03-10T14:00:00"}, MAG_AT
    )
    assert "time zone" in refusal.message


def test_lowercase_birads_is_normalised(pathway):
    case = opened(pathway)
    decision = accept(case, "magnification_result", {**SUSPICIOUS_MAG, "birads": "4c"}, MAG_AT)
    assert decision.birads == "4C"
    assert case.open_step("result_letter").due_at == MAG_AT + days(7)


# --- BI-RADS 6 comes from pathology; a repeat biopsy never follows a malignant result ----------------------


@pytest.mark.parametrize(
    ("kind", "data"),
    [
        ("assessment", {"birads": "6"}),
        ("followup_imaging_result", {"birads": "6", "change": "new_features"}),
    ],
)
def test_birads_6_assessment_is_refused_listing_only_imaging_categories(pathway, kind, data):
    case = opened(pathway, density="b", facility_ids=())
    accept(case, "magnification_result", PROBABLY_BENIGN_MAG, MAG_AT)
    result = case.record(kind, {**data, "override_reason": "n/a"} if kind != "assessment" else data, MAG_AT + days(30))
    assert isinstance(result, Refusal) and result.field == "birads"
    assert "must be one of 0, 1, 2, 3, 4A, 4B, 4C, 5; got '6'" in result.message


def test_birads_6_magnification_is_refused(pathway):
    case = opened(pathway)
    result = case.record("magnification_result", {**SUSPICIOUS_MAG, "birads": "6"}, MAG_AT)
    assert isinstance(result, Refusal) and result.field == "birads"
    assert "one of 0, 1, 2, 3, 4A, 4B, 4C, 5;" in result.message  # never lists what it then refuses


def test_repeat_biopsy_after_malignant_discordant_is_refused(pathway):
    case = biopsied_case(pathway)
    accept(case, "pathology_result", {"category": "malignant", "diagnosis": "dcis", "concordant": False}, PATHOLOGY_AT)
    result = case.record("repeat_biopsy_ordered", {"reason": "discordant"}, PATHOLOGY_AT + days(1))
    assert isinstance(result, Refusal)
    assert case.open_step("surgical_consultation").kind == "surgical_consultation"
