"""Task searches generated with hypothesis: status x patient x owner x _lastUpdated (every prefix, every
precision, with and without a zone) x _count, paged through the next links, each checked against the same
question put to the database directly. The centre is in New York, so a day there is not a day in UTC."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import Session, col, select

from tests.fhir_support import T0, T1, T2, World, build_world, checked, path_of
from tracking.cases.models import Case, Step
from tracking.fhir.codes import STEP_STATUS, TASK_STATUSES, step_statuses_for_task
from tracking.pathway.vocabulary import StepStatus

ZONE = ZoneInfo("America/New_York")
# What each Task status stands for, written out here apart from tracking/fhir/codes.py; "draft" and
# "in-progress" are Task statuses no step has.
TASK_TO_STEPS = {"requested": ["pending"], "accepted": ["scheduled"], "completed": ["completed"],
                 "cancelled": ["cancelled"], "ready": ["handed_off"], "draft": [], "in-progress": []}  # fmt: skip
NUDGES = [timedelta(0), timedelta(microseconds=1), -timedelta(microseconds=1), timedelta(hours=5), -timedelta(days=1)]


@pytest.fixture
def world(committed, users, configure) -> World:
    configure(WORKUP_TIMEZONE=ZONE.key)
    return build_world(committed, users["navigator"])


@pytest.fixture
def fhir(api_for):
    return api_for("navigator")


def test_the_status_table_covers_every_step_status_and_is_what_a_search_asks_for():
    assert set(STEP_STATUS) == set(StepStatus)  # a new step status without a Task status fails here
    for step_status, codes in STEP_STATUS.items():
        assert codes.task in TASK_STATUSES and codes.words, step_status
        assert step_status.value in TASK_TO_STEPS[codes.task], step_status
    for task_status, step_statuses in TASK_TO_STEPS.items():
        assert step_statuses_for_task(task_status) == step_statuses


def _following_month(year: int, month: int) -> datetime:
    return datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=ZONE)


PREFIXES = ["", "eq", "gt", "lt", "ge", "le"]
PRECISIONS = ["year", "month", "day", "minute", "second", "micro", "offset", "no-zone"]


def date_value(prefix: str, moment: datetime, precision: str) -> tuple[str, str, datetime, datetime]:
    """`moment` written as a client writes a _lastUpdated value at `precision`, with its prefix and the
    instants the value covers, [low, high)."""
    local, utc = moment.astimezone(ZONE), moment.astimezone(UTC)
    if precision == "year":
        text, low, high = f"{local.year}", datetime(local.year, 1, 1, tzinfo=ZONE), datetime(local.year + 1, 1, 1,
                                                                                               tzinfo=ZONE)  # fmt: skip
    elif precision == "month":
        text, low = f"{local:%Y-%m}", datetime(local.year, local.month, 1, tzinfo=ZONE)
        high = _following_month(local.year, local.month)
    elif precision == "day":
        day: date = local.date()
        text, low = day.isoformat(), datetime.combine(day, time(), ZONE)
        high = datetime.combine(day + timedelta(days=1), time(), ZONE)
    elif precision == "minute":
        low = utc.replace(second=0, microsecond=0)
        text, high = f"{low:%Y-%m-%dT%H:%M}Z", low + timedelta(minutes=1)
    elif precision == "second":
        low = utc.replace(microsecond=0)
        text, high = f"{low:%Y-%m-%dT%H:%M:%S}Z", low + timedelta(seconds=1)
    elif precision == "micro":
        text, low, high = f"{utc:%Y-%m-%dT%H:%M:%S.%f}Z", utc, utc + timedelta(microseconds=1)
    elif precision == "offset":
        low = local.replace(microsecond=0)
        text, high = low.isoformat(), low + timedelta(seconds=1)  # "2026-03-01T22:30:00-05:00"
    else:  # no zone: the centre's clock
        low = local.replace(second=0, microsecond=0)
        text, high = f"{low:%Y-%m-%dT%H:%M}", low + timedelta(minutes=1)
    return prefix + text, prefix or "eq", low, high


@st.composite
def last_updated(draw) -> tuple[str, str, datetime, datetime]:
    moment = draw(st.sampled_from([T0, T1, T2])) + draw(st.sampled_from(NUDGES))
    return date_value(draw(st.sampled_from(PREFIXES)), moment, draw(st.sampled_from(PRECISIONS)))


def expected_ids(engine, statuses: list[str], patient: int | None, owner: int | None, dates: list) -> list[int]:
    """The same question asked of the database directly, with the ORM."""
    query = select(Step.id).join(Case, col(Case.id) == Step.case_id).order_by(Step.id)
    if statuses:
        query = query.where(col(Step.status).in_([step for task in statuses for step in TASK_TO_STEPS[task]]))
    if patient is not None:
        query = query.where(Case.patient_id == patient)
    if owner is not None:
        query = query.where(Case.navigator_id == owner)
    for _, prefix, low, high in dates:
        updated = col(Step.updated_at)
        query = query.where({"eq": (updated >= low) & (updated < high), "gt": updated >= high, "lt": updated < low,
                             "ge": updated >= low, "le": updated < high}[prefix])  # fmt: skip
    with Session(engine) as session:
        return list(session.exec(query))


@given(data=st.data())
@settings(max_examples=150, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])  # fmt: skip
def test_generated_task_searches_find_what_the_database_holds(fhir, world, committed, data):
    statuses = data.draw(st.lists(st.sampled_from(sorted(TASK_TO_STEPS)), max_size=3, unique=True), "status")
    patient = data.draw(st.sampled_from([None, world.ada, world.bea, 999_999]), "patient")
    owner = data.draw(st.sampled_from([None, world.navigator_id]), "owner")
    dates = data.draw(st.lists(last_updated(), max_size=2), "_lastUpdated")
    count = data.draw(st.integers(min_value=1, max_value=5), "_count")
    counted = data.draw(st.booleans(), "total counted")
    params = [("_count", str(count))]
    if statuses:
        params.append(("status", ",".join(statuses)))
    if patient is not None:
        params.append(("patient", f"Patient/{patient}" if patient % 2 else str(patient)))
    if owner is not None:
        params.append(("owner", f"Practitioner/{owner}"))
    params += [("_lastUpdated", text) for text, *_ in dates]
    if not counted:
        params.append(("_total", "none"))

    wanted = expected_ids(committed, statuses, patient, owner, dates)
    found: list[int] = []
    response = fhir.get("/fhir/Task", params=params)
    first = True
    while True:
        assert response.status_code == 200, response.text
        bundle = response.json()
        if first:
            checked(bundle)
            first = False
        assert bundle.get("total") == (len(wanted) if counted else None)
        page = [int(entry["resource"]["id"]) for entry in bundle.get("entry", [])]
        assert len(page) <= count
        found += page
        following = [link["url"] for link in bundle["link"] if link["relation"] == "next"]
        if not following:
            break
        response = fhir.get(path_of(following[0]))
    assert found == wanted, (params, found, wanted)


def test_every_prefix_and_precision_around_the_moments_steps_changed(fhir, world, committed):
    """The boundaries, exhaustively: a value a microsecond either side of a change, at every precision."""
    cases = [(prefix, T1 + nudge, precision) for prefix in PREFIXES for precision in PRECISIONS for nudge in NUDGES]
    cases += [(prefix, moment + nudge, "micro") for prefix in PREFIXES for moment in (T0, T2) for nudge in NUDGES]
    wrong = []
    for prefix, moment, precision in cases:
        value = date_value(prefix, moment, precision)
        bundle = fhir.get("/fhir/Task", params={"_lastUpdated": value[0], "_count": 100}).json()
        found = [int(entry["resource"]["id"]) for entry in bundle.get("entry", [])]
        if found != expected_ids(committed, [], None, None, [value]):
            wrong.append(value[0])
    assert not wrong, wrong


def test_a_count_of_zero_and_a_page_past_the_end_still_say_the_total(fhir, world, committed):
    total = len(expected_ids(committed, [], None, None, []))
    nothing = fhir.get("/fhir/Task", params={"_count": 0}).json()
    assert nothing["total"] == total and "entry" not in nothing
    assert [link["relation"] for link in nothing["link"]] == ["self", "first"]
    past = fhir.get("/fhir/Task", params={"_offset": 500, "_count": 5}).json()
    assert past["total"] == total and "entry" not in past
    assert [link["relation"] for link in past["link"]] == ["self", "first", "previous"]
    second = fhir.get("/fhir/Task", params={"_offset": 5, "_count": 5}).json()
    links = {link["relation"]: link["url"] for link in second["link"]}
    assert links["previous"].endswith("_count=5") and links["next"].endswith("_count=5&_offset=10")
    assert checked(second).total == total
