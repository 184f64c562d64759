"""The outcomes audit's pure rules: how one case counts, the benchmark words, the 90th percentile, the rate chart."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

import pytest

from tracking.pathway.definition import find_pathway
from tracking.reports.audit_rules import audit_rules
from tracking.reports.case_outcome import AuditEvent, Happening, Standing, case_outcome
from tracking.reports.outcome_figures import nearest_rank
from tracking.reports.outcomes_config import Benchmark
from tracking.web.charts import HALO, RateBar, for_print, rate_bars

T0 = datetime(2026, 2, 2, 14, 0, tzinfo=UTC)
SVG = "{http://www.w3.org/2000/svg}"


def read(birads: str, day: int = 0, actor: str = "rad-a") -> AuditEvent:
    return AuditEvent(Happening.assessment, T0 + timedelta(days=day), actor, birads=birads)


def biopsy(day: int) -> AuditEvent:
    return AuditEvent(Happening.biopsy, T0 + timedelta(days=day), "rad-a")


def result(category: str, diagnosis: str, day: int) -> AuditEvent:
    return AuditEvent(Happening.pathology, T0 + timedelta(days=day), "rad-a", category=category, diagnosis=diagnosis)


def outcome(events, *, opened="0", open_biopsy=False, open_review=False):
    return case_outcome(7, events, opened_birads=opened, open_biopsy_step=open_biopsy, open_review_step=open_review,
                        in_situ={"dcis"})  # fmt: skip


def test_the_pathways_name_their_assessments_biopsies_and_results():
    calcifications, masses = audit_rules(find_pathway("calcifications")), audit_rules(find_pathway("masses"))
    assert calcifications.assessments == {"magnification_result", "assessment", "followup_imaging_result"}
    assert masses.assessments == {"diagnostic_mammogram_result", "ultrasound_result", "mri_result", "assessment",
                                  "followup_imaging_result"}  # fmt: skip
    assert calcifications.biopsies == masses.biopsies == {"biopsy_performed"}
    assert calcifications.pathology == {"pathology_result"} and calcifications.review_steps == {"rad_path_concordance"}
    assert calcifications.malignant == masses.malignant == {"dcis", "invasive_carcinoma"}
    assert masses.biopsy_steps == {"us_guided_biopsy", "stereotactic_biopsy", "mri_biopsy", "surgical_excision"}


def test_only_the_first_suspicious_read_is_the_recommendation():
    case = outcome([read("3", 0, "rad-b"), read("4A", 5, "rad-a"), read("5", 9, "rad-b"), biopsy(12)])
    assert (case.recommended, case.birads, case.actor, case.audit_at) == (True, "4A", "rad-a", T0 + timedelta(days=5))
    assert case.biopsied and case.result is None


def test_without_a_suspicious_read_the_first_final_assessment_dates_the_case():
    case = outcome([read("0", 0, "rad-b"), read("3", 2, "rad-a"), read("2", 200, "rad-b")])
    assert (case.recommended, case.birads, case.actor) == (False, "3", "rad-a")
    assert outcome([read("0")]) is None and outcome([]) is None


def test_a_case_opened_at_birads_6_is_not_audited():
    assert outcome([read("5"), biopsy(1), result("malignant", "invasive_carcinoma", 3)], opened="6") is None


def test_the_most_severe_result_counts_and_invasive_outranks_dcis():
    case = outcome(
        [read("4B"), biopsy(1), result("high_risk", "adh", 3), biopsy(9), result("benign", "other_benign", 12)]
    )
    assert (case.result, case.cancer, case.diagnosed_at) == ("high_risk", None, T0 + timedelta(days=3))
    both = outcome([read("5"), biopsy(1), result("malignant", "dcis", 4), biopsy(20),
                    result("malignant", "invasive_carcinoma", 25)])  # fmt: skip
    assert (both.cancer, both.days_to_diagnosis) == ("invasive", 4.0)  # the first malignant result diagnosed it


def test_a_result_dated_before_its_recommendation_counts_as_no_days():
    case = outcome([read("4A", 10), biopsy(11), result("benign", "fibroadenoma", 2)])
    assert case.days_to_diagnosis == 0.0


@pytest.mark.parametrize(
    ("events", "open_biopsy", "open_review", "standing"),
    [
        ([read("4A")], True, False, Standing.biopsy_owed),
        ([read("4A"), biopsy(2)], False, True, Standing.result_owed),
        ([read("4A"), biopsy(2), result("benign", "fibroadenoma", 4)], True, False, Standing.repeat_biopsy_owed),
        ([read("4A"), read("2", 3)], False, False, None),  # withdrawn: no biopsy planned any more
    ],
)
def test_where_a_case_awaiting_pathology_stands(events, open_biopsy, open_review, standing):
    assert outcome(events, open_biopsy=open_biopsy, open_review=open_review).awaiting == standing


def test_benchmark_words_include_the_edges():
    ppv2 = Benchmark("ppv2", "PPV2", "percent", 0.15, 0.40, "source")
    assert [ppv2.judge(value) for value in (None, 0.1499, 0.15, 0.40, 0.4001)] == [
        "no data", "below range", "in range", "in range", "above range"]  # fmt: skip
    assert Benchmark("cdr", "CDR", "per_1000", 20, None, "s").range_text == "at least 20 per 1,000"


def test_the_90th_percentile_is_the_nearest_rank():
    assert nearest_rank([5.0], 0.9) == 5.0
    assert nearest_rank(list(range(1, 11)), 0.9) == 9
    assert nearest_rank([4, 9, 10, 10, 10, 23, 5], 0.9) == 23


def test_the_rate_chart_says_everything_in_words_and_prints_without_outlines():
    svg = rate_bars(chart_id="c", title="PPV2 <by> radiologist", band=(15, 40), band_label="benchmark 15–40%",
                    rows=[RateBar("Ann & co", 42.9, "42.9% (3 of 7), above range"),
                          RateBar("Ben", None, "no data (none in the denominator)")])  # fmt: skip
    root = ET.fromstring(svg)
    assert root.get("role") == "img" and root.find(f"{SVG}title").text == "PPV2 <by> radiologist"
    assert root.find(f"{SVG}desc").text == ("PPV2 <by> radiologist. Ann & co: 42.9% (3 of 7), above range; "
                                            "Ben: no data (none in the denominator). Shaded: benchmark 15–40%.")  # fmt: skip
    labels = [node.text for node in root.iter(f"{SVG}text")]
    assert "42.9% (3 of 7), above range" in labels and "benchmark 15–40%" in labels and "100%" in labels
    assert HALO in svg and HALO not in for_print(svg)
    ET.fromstring(for_print(svg))
