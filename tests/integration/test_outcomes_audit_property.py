"""Property: whatever case histories clinicians record, the outcomes audit adds up.

Random histories (reads of any BI-RADS, re-assessments, biopsies, results of every category, repeat
biopsies, stereotactic biopsy found infeasible, follow-up reads) go through open_case and
record_event on real PostgreSQL, recorded by two radiologists, a navigator and the command line; the
pathway refuses what it refuses (nothing is written then). The report must then hold:

  * performed <= recommended <= recalls worked up, cancers <= performed, DCIS + invasive = cancers,
    every biopsied case has one result category or none yet, every recommended case is biopsied,
    awaiting a biopsy, or has none planned; PPV3 >= PPV2 whenever both are defined;
  * each radiologist's counts add up to the centre's, and so do the cases awaiting pathology;
  * splitting the period at any day splits every count;
  * over every case: cancers, biopsies and cases awaiting pathology agree with plain SQL on the tables.
"""

from __future__ import annotations

import os
import tempfile
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from tests.conftest import rolled_back_session
from tests.factories import STEREOTACTIC_DONE, seed_opening
from tests.outcomes_support import NAVIGATOR, add_users
from tracking.cases.errors import WorkupError
from tracking.cases.opening import open_case
from tracking.cases.recording import record_event
from tracking.reports.outcome_figures import COUNTS
from tracking.reports.outcomes import outcomes_report
from tracking.reports.period import Period

os.environ.setdefault("HYPOTHESIS_STORAGE_DIRECTORY", str(Path(tempfile.gettempdir()) / "breast-workup-hypothesis"))

START = datetime(2026, 1, 5, 14, 0, tzinfo=UTC)
AS_OF = datetime(2030, 1, 1, tzinfo=UTC)
ACTORS = ("rad-a", "rad-b", NAVIGATOR, "cli:someone")
BIRADS = ("4B", "5", "4A", "4C", "0", "3", "2", "1")
YES_FIRST = st.sampled_from((True, False))
PATHOLOGY = {
    "malignant": ("dcis", "invasive_carcinoma"),
    "benign": ("fibrocystic_change", "fibroadenoma"),
    "high_risk": ("adh", "lcis"),
}
OPEN_SURGICAL = {"procedure": "open_surgical", "cores": 1}


def read_data(birads: str) -> dict:
    suspicious = birads in ("4A", "4B", "4C", "5")
    return {"birads": birads, "morphology": "fine_pleomorphic" if suspicious else "amorphous",
            "distribution": "grouped"}  # fmt: skip


MOVES = st.one_of(
    st.sampled_from(BIRADS).map(lambda birads: ("magnification_result", read_data(birads))),
    st.sampled_from(BIRADS).map(lambda birads: ("assessment", {"birads": birads})),
    st.just(("biopsy_performed", STEREOTACTIC_DONE)),
    st.just(("biopsy_performed", OPEN_SURGICAL)),
    st.just(("stereotactic_infeasible", {"reason": "breast_too_thin"})),
    st.deferred(lambda: PATHOLOGY_RESULTS),
    st.just(("repeat_biopsy_ordered", {"reason": "more tissue needed"})),
    st.sampled_from(BIRADS).map(
        lambda birads: (
            "followup_imaging_result",
            {"birads": birads, "change": "stable", "override_reason": "reviewed"},
        )  # fmt: skip
    ),
)
PATHOLOGY_RESULTS = st.sampled_from(tuple(PATHOLOGY)).flatmap(
    lambda category: st.tuples(st.sampled_from(PATHOLOGY[category]), YES_FIRST).map(
        lambda pair: ("pathology_result", {"category": category, "diagnosis": pair[0], "concordant": pair[1]})
    )
)


@st.composite
def case_story(draw) -> tuple[int, list]:
    """When a case opens (days after START), and its events: (days later, (kind, data), who).

    Mostly the usual course (a read, perhaps a biopsy and its result, perhaps a repeat biopsy and its
    result), with any other moves slipped in anywhere; the pathway refuses those that do not fit.
    """
    first_read = draw(st.sampled_from(BIRADS[:4]) | st.sampled_from(BIRADS))  # mostly suspicious
    course = [("magnification_result", read_data(first_read))]
    course_of = draw(st.sampled_from(("biopsy", "biopsy", "withdrawn", "nothing yet")))
    if course_of == "withdrawn":  # a later read below 4 (priors show stability): the biopsy is cancelled
        course.append(("assessment", {"birads": draw(st.sampled_from(("2", "3", "1")))}))
    if course_of == "biopsy":
        course.append(("biopsy_performed", STEREOTACTIC_DONE))
        course.append(draw(PATHOLOGY_RESULTS))
        if draw(YES_FIRST):
            course += [("repeat_biopsy_ordered", {"reason": "more tissue needed"}),
                       ("biopsy_performed", STEREOTACTIC_DONE), draw(PATHOLOGY_RESULTS)]  # fmt: skip
    for move in draw(st.lists(MOVES, max_size=5)):
        course.insert(draw(st.integers(0, len(course))), move)
    events = [(draw(st.integers(0, 60)), move, draw(st.sampled_from(ACTORS))) for move in course]
    return draw(st.integers(0, 200)), events


CASES = st.lists(case_story(), min_size=2, max_size=5)


def play(session, stories) -> list[int]:
    add_users(session)
    case_ids = []
    for number, (opened_day, events) in enumerate(stories):
        at = START + timedelta(days=opened_day)
        opening = seed_opening(mrn=f"PROP-OUTCOMES-{number}", facilities=[], density="b")
        case_id = open_case(session, opening, actor="nav", now=at).case_id
        case_ids.append(case_id)
        for days, (kind, data), actor in events:
            at += timedelta(days=days, hours=1)
            savepoint = session.begin_nested()
            try:
                record_event(session, case_id, kind, data, actor=actor, now=at)
            except WorkupError:
                savepoint.rollback()
            else:
                savepoint.commit()
    return case_ids


def check_group(figures) -> None:
    assert figures.biopsies_performed <= figures.biopsies_recommended <= figures.recalls_worked_up
    assert figures.cancers <= figures.biopsies_performed
    assert figures.dcis + figures.invasive == figures.cancers
    results = figures.cancers + figures.high_risk + figures.benign
    assert results + figures.biopsied_awaiting_result == figures.biopsies_performed
    awaiting_biopsy = figures.awaiting_pathology - figures.ppv3.awaiting_in_denominator
    assert figures.biopsies_performed + awaiting_biopsy + figures.no_biopsy_planned == figures.biopsies_recommended
    assert figures.ppv2.awaiting_in_denominator == figures.awaiting_pathology
    assert figures.to_diagnosis.count == results
    ppv2, ppv3 = figures.ppv2.fraction, figures.ppv3.fraction
    if ppv2 is not None and ppv3 is not None:
        assert ppv3 >= ppv2
    if figures.to_diagnosis.count:
        assert 0 <= figures.to_diagnosis.median <= figures.to_diagnosis.p90


def check_report(report) -> None:
    check_group(report.centre)
    for name in COUNTS:
        assert sum(getattr(group.figures, name) for group in report.radiologists) == getattr(report.centre, name)
    assert sorted(case for group in report.radiologists for case in group.awaiting_case_ids) == report.awaiting_case_ids
    assert len(report.awaiting) == report.centre.awaiting_pathology
    for group in report.radiologists:
        check_group(group.figures)
    assert sum(group.figures.to_diagnosis.count for group in report.radiologists) == report.centre.to_diagnosis.count


def sql_case_ids(session, query: str) -> set[int]:
    return {row[0] for row in session.execute(text(query))}


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow], database=None)  # fmt: skip
@given(stories=CASES, split_day=st.integers(0, 300))
def test_the_audit_adds_up_whatever_is_recorded(engine, stories, split_day):
    with rolled_back_session(engine) as session:
        play(session, stories)
        everything = outcomes_report(session, Period(), AS_OF)
        check_report(everything)

        split = START.date() + timedelta(days=split_day)
        before = outcomes_report(session, Period(None, split), AS_OF)
        after = outcomes_report(session, Period(split + timedelta(days=1), None), AS_OF)
        bounded = outcomes_report(session, Period(date(2025, 1, 1), date(2029, 12, 31)), AS_OF)
        for report in (before, after, bounded):
            check_report(report)
        for name in COUNTS:
            whole = getattr(everything.centre, name)
            assert getattr(before.centre, name) + getattr(after.centre, name) == whole, name
            assert getattr(bounded.centre, name) == whole, name
        assert sorted(before.awaiting_case_ids + after.awaiting_case_ids) == everything.awaiting_case_ids

        centre = everything.centre
        event(f"cancers: {min(centre.cancers, 2)}, biopsied: {min(centre.biopsies_performed, 2)}")
        event(f"awaiting: {min(centre.awaiting_pathology, 2)}, high-risk: {min(centre.high_risk, 1)}, "
              f"none planned: {min(centre.no_biopsy_planned, 1)}")  # fmt: skip
        malignant = "SELECT DISTINCT case_id FROM case_events WHERE kind = 'pathology_result' "
        assert centre.cancers == len(sql_case_ids(session, malignant + "AND payload->>'category' = 'malignant'"))
        assert centre.biopsies_performed == len(
            sql_case_ids(session, "SELECT DISTINCT case_id FROM case_events WHERE kind = 'biopsy_performed'")
        )
        owed = sql_case_ids(session, "SELECT case_id FROM steps WHERE status IN ('pending', 'scheduled') AND kind IN "
                                     "('stereotactic_biopsy', 'open_surgical_biopsy', 'rad_path_concordance')")  # fmt: skip
        assert set(everything.awaiting_case_ids) == owed
