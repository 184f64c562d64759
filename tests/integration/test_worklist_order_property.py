"""The patient worklist read bucket by bucket gives the order, pages and counts of one plain sort.

tracking/cases/patient_worklist.py reads the urgency buckets one by one through their own indexes,
and a search through the ids it finds or through a semi-join. Hypothesis builds case rows directly
(due times with ties, in the past and future, missing; BI-RADS; statuses; tasks; alerts; names with
LIKE's wildcards in them) and checks every page against the order written once, in Python: urgency
(an overdue step with BI-RADS 4A-5, any other overdue step, the rest), the earliest overdue step,
the next due time (nothing due last), the case id.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from tracking.cases import patient_worklist
from tracking.cases.patient_worklist import SUSPICIOUS_BIRADS, PatientFilters, end_of_today, worklist_page
from tracking.cases.queries import LATENESS, lateness_bounds

NOW = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
OFFSETS = [timedelta(days=days) for days in (-20, -9, -1, 0, 3, 45)]  # few: due times tie
FAMILIES = ["Smith", "Smyth", "O'Brien", "Half_Price", "Per%Cent", "Back\\Slash", "Nguyen"]
SEARCHES = ["smith", "Sm", "_", "%", "\\", "f_p", "r%c", "MRN-1", "mrn-", "O'B", "zzz", "k\\s"]


@dataclass(frozen=True)
class Row:
    status: str
    birads: str
    step_due: datetime | None
    task_due: datetime | None
    alert: str | None  # None, "open" or "resolved"
    family: str


TIED = Row("open", "0", NOW - timedelta(days=9), None, None, "Smith")
TIED_WITH_TASK = Row("open", "0", NOW - timedelta(days=9), NOW - timedelta(days=20), None, "Smith")

rows = st.builds(
    Row,
    status=st.sampled_from(["open", "open", "lost_to_follow_up", "closed"]),
    birads=st.sampled_from(["0", "3", "4A", "4B", "5"]),
    step_due=st.none() | st.sampled_from(OFFSETS).map(lambda offset: NOW + offset),
    task_due=st.none() | st.none() | st.sampled_from(OFFSETS).map(lambda offset: NOW + offset),
    alert=st.sampled_from([None, None, "open", "resolved"]),
    family=st.sampled_from(FAMILIES),
)
filters = st.builds(
    PatientFilters,
    search=st.sampled_from([None, None, None, *SEARCHES]),
    lateness=st.sampled_from([None, *sorted(LATENESS)]),
    birads=st.sampled_from([(), (), ("0",), ("4A", "4B", "4C", "5"), ("3", "5")]),
    status=st.sampled_from([None, None, "open", "lost_to_follow_up"]),
    task=st.sampled_from([None, None, None, "due", "open"]),
    needs_action=st.booleans(),
)


def insert(session, population: list[Row]) -> list[int]:
    ids = []
    for number, row in enumerate(population):
        patient = session.execute(
            text(
                "INSERT INTO patients (mrn, given_name, family_name, birth_date, created_at) "
                "VALUES (:mrn, 'Ann', :family, :born, :now) RETURNING id"
            ),
            {"mrn": f"MRN-{number}", "family": row.family, "born": date(1960, 1, 1), "now": NOW},
        ).scalar_one()
        case_id = session.execute(
            text(
                "INSERT INTO cases (patient_id, finding_type, laterality, density, birads, pathway_name, "
                "pathway_version, status, opened_at, closed_at, version, next_step_due_at, next_task_due_at) "
                "VALUES (:patient, 'calcifications', 'left', 'b', :birads, 'calcifications', 1, :status, :opened, "
                ":closed, 1, :step_due, :task_due) RETURNING id"
            ),
            {"patient": patient, "birads": row.birads, "status": row.status, "opened": NOW - timedelta(days=60),
             "closed": NOW if row.status == "closed" else None, "step_due": row.step_due, "task_due": row.task_due},
        ).scalar_one()  # fmt: skip
        if row.alert:
            session.execute(
                text(
                    "INSERT INTO alerts (kind, case_id, level, status, raised_at, resolved_at) "
                    "VALUES ('case_stalled', :case, 1, :status, :now, :resolved)"
                ),
                {
                    "case": case_id,
                    "status": row.alert,
                    "now": NOW,
                    "resolved": NOW if row.alert == "resolved" else None,
                },
            )
        ids.append(case_id)
    return ids


def matches(row: Row, mrn: str, chosen: PatientFilters) -> bool:
    if row.status == "closed" or (chosen.status and row.status != chosen.status):
        return False
    dues = [due for due in (row.step_due, row.task_due) if due is not None]
    next_due = min(dues) if dues else None
    if chosen.search and not (
        chosen.search.lower() in f"{row.family}, Ann".lower() or mrn.upper().startswith(chosen.search.upper())
    ):
        return False
    if chosen.birads and row.birads not in chosen.birads:
        return False
    if chosen.task == "due" and not (row.task_due is not None and row.task_due < end_of_today(NOW)):
        return False
    if chosen.task == "open" and row.task_due is None:
        return False
    if chosen.lateness:
        low, high = lateness_bounds(chosen.lateness, NOW)
        column = next_due if chosen.lateness == "due_7" else row.step_due
        if column is None or column >= high or (low is not None and column < low):
            return False
    if chosen.needs_action:
        horizon = NOW + timedelta(days=chosen.due_within_days)
        return (next_due is not None and next_due < horizon) or row.task_due is not None or row.alert == "open"
    return True


def order_key(row: Row, case_id: int) -> tuple:
    overdue = row.step_due is not None and row.step_due < NOW
    urgency = 0 if overdue and row.birads in SUSPICIOUS_BIRADS else 1 if overdue else 2
    dues = [due for due in (row.step_due, row.task_due) if due is not None]
    next_due = min(dues) if dues else None
    since = row.step_due if overdue else None
    return (urgency, since is None, since or NOW, next_due is None, next_due or NOW, case_id)


@pytest.mark.parametrize("found_most", [2_000, 1], ids=["ids-found", "semi-join"])
def test_every_page_is_the_plain_sort(session, monkeypatch, found_most):
    monkeypatch.setattr(patient_worklist, "FOUND_MOST", found_most)

    @settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(st.lists(rows, max_size=20), filters, st.integers(min_value=1, max_value=4))
    # two cases overdue since the same moment: the one whose task is due sooner comes first, though
    # its id is higher (a bucket must take its first rows in the worklist's order, not the index's)
    @example([TIED, TIED_WITH_TASK], PatientFilters(needs_action=False), 1)
    def check(population: list[Row], chosen: PatientFilters, page_size: int) -> None:
        with session.begin_nested() as savepoint:
            ids = insert(session, population)
            wanted = sorted(
                (order_key(row, case_id), case_id)
                for number, (row, case_id) in enumerate(zip(population, ids, strict=True))
                if matches(row, f"MRN-{number}", chosen)
            )
            expected = [case_id for _, case_id in wanted]
            pages = max(1, -(-len(expected) // page_size))
            for page in range(1, pages + 1):
                found = worklist_page(session, NOW, chosen, page=page, page_size=page_size)
                assert found.total == len(expected)
                assert [row.case_id for row in found.rows] == expected[(page - 1) * page_size : page * page_size], (
                    page,
                    chosen,
                )
            savepoint.rollback()

    check()
