"""The MQSA outcomes audit on real PostgreSQL: cases built through open_case and record_event, every
figure checked against the one worked out by hand (tests/outcomes_support.py)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from tests.outcomes_support import (
    AWAITING,
    EXPECTED_COUNTS,
    EXPECTED_DAYS,
    EXPECTED_PPV2,
    EXPECTED_PPV3,
    PERIOD,
    RADIOLOGISTS,
    ZONE,
    Story,
    build_known_outcomes,
    ny,
)
from tracking.cases.errors import InvalidInput, ReportConfigError
from tracking.reports.outcomes import NOT_RECORDED, outcomes_report
from tracking.reports.outcomes_config import load_outcomes_config
from tracking.reports.period import Period, period_or_refuse

AS_OF = datetime(2026, 4, 15, 12, 0, tzinfo=UTC)


@pytest.fixture
def new_york(configure):
    configure(WORKUP_TIMEZONE=ZONE)


@pytest.fixture
def known(session, new_york) -> dict[str, int]:
    return build_known_outcomes(session)


def first_quarter():
    return period_or_refuse(*PERIOD)


def groups(report) -> dict:
    found = {group.username: group for group in report.radiologists}
    found["centre"] = report.centre
    return found


def figures_of(group):
    return group if not hasattr(group, "figures") else group.figures


def test_every_figure_of_the_first_quarter_is_the_one_worked_out_by_hand(session, known):
    report = outcomes_report(session, first_quarter(), AS_OF)
    found = groups(report)
    assert [group.username for group in report.radiologists] == ["rad-a", "rad-b", None]
    assert [group.name for group in report.radiologists] == [RADIOLOGISTS["rad-a"], RADIOLOGISTS["rad-b"], NOT_RECORDED]
    for key, counts in EXPECTED_COUNTS.items():
        figures = figures_of(found[key])
        assert figures.counts() == counts, key
        for rate, expected in ((figures.ppv2, EXPECTED_PPV2[key]), (figures.ppv3, EXPECTED_PPV3[key])):
            assert (rate.numerator, rate.denominator, rate.percent, rate.verdict,
                    rate.awaiting_in_denominator) == expected, key  # fmt: skip
        days = figures.to_diagnosis
        assert (days.count, days.median, days.p90) == EXPECTED_DAYS[key], key
    assert report.centre.ppv2.fraction == pytest.approx(4 / 12)
    assert report.centre.ppv3.fraction == pytest.approx(0.5)


def test_cases_awaiting_pathology_are_listed_with_where_they_stand(session, known):
    report = outcomes_report(session, first_quarter(), AS_OF)
    listed = {case.case_id: case for case in report.awaiting}
    assert set(listed) == {known[name] for name in AWAITING}
    for name, standing in AWAITING.items():
        case = listed[known[name]]
        assert case.standing.value == standing, name
        assert case.status == "open"
    assert listed[known["upgraded"]].radiologist == RADIOLOGISTS["rad-a"]  # Ann's 4B, not Ben's earlier 3
    assert listed[known["last_evening"]].birads == "4A"
    assert [case.case_id for case in report.awaiting] == [
        known[name] for name in ("upgraded", "result_owed", "biopsy_owed", "last_evening")
    ]
    by_radiologist = {group.username: set(group.awaiting_case_ids) for group in report.radiologists}
    assert by_radiologist == {"rad-a": {known["result_owed"], known["last_evening"], known["upgraded"]},
                              "rad-b": {known["biopsy_owed"]}, None: set()}  # fmt: skip
    assert report.awaiting_case_ids == sorted(listed)


def test_a_result_arriving_takes_the_case_off_the_list_and_into_the_rates(session, known):
    Story(session, known["result_owed"]).pathology("malignant", "invasive_carcinoma", "rad-a", ny(3, 20))
    report = outcomes_report(session, first_quarter(), AS_OF)
    assert known["result_owed"] not in report.awaiting_case_ids
    assert (report.centre.cancers, report.centre.invasive, report.centre.biopsied_awaiting_result) == (5, 3, 0)
    assert (report.centre.ppv3.numerator, report.centre.ppv3.awaiting_in_denominator) == (5, 0)


def test_the_period_is_counted_on_the_centres_clock(session, known):
    """New Year's Eve at 23:30 in New York is already 1 January in UTC, and 31 March at 23:30 is 1 April."""
    december = outcomes_report(session, period_or_refuse("2025-12-31", "2025-12-31"), AS_OF)
    assert december.centre.recalls_worked_up == 1 and december.centre.cancers == 1
    first_of_january = outcomes_report(session, period_or_refuse("2026-01-01", "2026-01-01"), AS_OF)
    assert first_of_january.centre.recalls_worked_up == 0
    last_of_march = outcomes_report(session, period_or_refuse("2026-03-31", "2026-03-31"), AS_OF)
    assert last_of_march.awaiting_case_ids == [known["last_evening"]]
    april = outcomes_report(session, period_or_refuse("2026-04-01", None), AS_OF)
    assert april.centre.biopsies_recommended == 1 and april.awaiting_case_ids == [known["april"]]
    everything = outcomes_report(session, Period(), AS_OF)
    assert everything.centre.recalls_worked_up == 16  # the quarter's 14, New Year's Eve and April
    assert known["known_cancer"] not in everything.awaiting_case_ids  # opened at BI-RADS 6: not audited


def test_the_same_cases_seen_in_utc_move_across_the_boundaries(session, known, configure):
    configure(WORKUP_TIMEZONE="UTC")
    report = outcomes_report(session, first_quarter(), AS_OF)
    assert report.centre.recalls_worked_up == 14  # New Year's Eve moves in, the last evening of March out
    assert known["last_evening"] not in report.awaiting_case_ids


def test_the_period_ends_are_whole_days_on_the_centres_clock(new_york):
    period = period_or_refuse("2026-03-08", "2026-03-08")  # the day the clocks go forward: 23 hours
    assert period.start == datetime(2026, 3, 8, 5, 0, tzinfo=UTC)
    assert period.end == datetime(2026, 3, 9, 4, 0, tzinfo=UTC)
    assert Period(date(2026, 1, 1), None).end is None and Period().label == "every case tracked"


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        ("2026-13-01", None, "--from '2026-13-01' is not a date"),
        (None, "31/03/2026", "--to '31/03/2026' is not a date"),
        ("2026-W01-1", None, "--from '2026-W01-1' is not a date"),
        ("1850-01-01", None, "--from 1850-01-01 is out of range"),
        ("2026-04-01", "2026-03-31", "--to 2026-03-31 is before --from 2026-04-01"),
    ],
)
def test_a_bad_period_is_refused_naming_the_option(start, end, message):
    with pytest.raises(InvalidInput) as refused:
        period_or_refuse(start, end)
    assert message in str(refused.value)


def test_the_benchmarks_come_from_the_config_file_with_their_source():
    config = load_outcomes_config()
    assert (config.benchmarks["ppv2"].low, config.benchmarks["ppv2"].high) == (0.15, 0.40)
    assert (config.benchmarks["ppv3"].range_text, config.benchmarks["cancer_detection_rate"].range_text) == (
        "20–45%", "at least 20 per 1,000")  # fmt: skip
    assert "Carney" in config.benchmarks["ppv2"].source
    assert config.in_situ == {"dcis"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("benchmarks: {ppv3: {title: x, unit: percent, low: 1, source: abc}}", "benchmarks.ppv2: missing"),
        ("benchmarks:\n  ppv2: {title: x, unit: percent, low: 50, high: 40, source: abc}\n", "low 50 is above high 40"),
        ("benchmarks:\n  ppv2: {title: x, unit: percent, source: abc}\n", "give low, high or both"),
        ("benchmarks:\n  ppv2: {title: x, unit: percent, low: 1, source: abc, colour: red}\n", "colour"),
        ("benchmarks: [\n", "not valid YAML"),
    ],
)
def test_a_broken_config_file_is_refused_naming_the_file_and_key(tmp_path: Path, text, message):
    (tmp_path / "outcomes.yaml").write_text(text)
    with pytest.raises(ReportConfigError) as refused:
        load_outcomes_config(tmp_path)
    assert message in str(refused.value) and str(tmp_path / "outcomes.yaml") in str(refused.value)


def test_an_in_situ_diagnosis_no_pathway_knows_is_refused(session, tmp_path: Path, new_york):
    source = Path(load_outcomes_config().path).read_text().replace("[dcis]", "[dcis, dciss]")
    (tmp_path / "outcomes.yaml").write_text(source)
    with pytest.raises(ReportConfigError) as refused:
        outcomes_report(session, Period(), AS_OF, load_outcomes_config(tmp_path))
    assert "'dciss' is not a malignant diagnosis of any pathway" in str(refused.value)


def test_without_in_situ_diagnoses_every_cancer_counts_as_invasive(session, known, tmp_path: Path):
    source = Path(load_outcomes_config().path).read_text().replace("[dcis]", "[]")
    (tmp_path / "outcomes.yaml").write_text(source)
    report = outcomes_report(session, first_quarter(), AS_OF, load_outcomes_config(tmp_path))
    assert (report.centre.cancers, report.centre.dcis, report.centre.invasive) == (4, 0, 4)


def test_figures_the_tracker_cannot_compute_are_listed_with_the_reason(session, known):
    report = outcomes_report(session, first_quarter(), AS_OF)
    unavailable = {item.key: item for item in report.not_available}
    assert {"abnormal_interpretation_rate", "cancer_detection_rate"} <= set(unavailable)
    assert "every examination" in unavailable["abnormal_interpretation_rate"].reason
    assert unavailable["abnormal_interpretation_rate"].benchmark.range_text == "8–25%"
    document = report.as_dict()
    assert all(item["available"] is False for item in document["not_available"])
    assert "abnormal_interpretation_rate" not in document["centre"]


def test_the_json_names_case_ids_only(session, known):
    document = outcomes_report(session, first_quarter(), AS_OF).as_dict()
    assert document["centre"]["ppv2"] == {"numerator": 4, "denominator": 12, "fraction": 0.3333, "percent": 33.3,
                                          "verdict": "in range", "benchmark": "15–40%",
                                          "awaiting_pathology_in_denominator": 4}  # fmt: skip
    assert document["awaiting_pathology_case_ids"] == sorted(known[name] for name in AWAITING)
    text = str(document)
    assert "Testcase" not in text and "OUTCOMES-" not in text  # the seed patient's name and the MRNs
