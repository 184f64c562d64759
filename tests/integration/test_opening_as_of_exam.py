"""A case opened as of its exam (issue 10): due dates count from the exam, not from data entry.

The service on real PostgreSQL, then the `workup` command as a real process. The moment is
refused (nothing written) when it has no zone, is in the future, or is further back than
WORKUP_OPENING_MAX_AGE_DAYS.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError
from sqlalchemy import text
from sqlmodel import select

from tests.factories import SUSPICIOUS_MAG, seed_opening
from tests.integration import test_cli
from tests.integration.test_cli import SEED_FLAGS, count, one_clear_line
from tracking.cases.errors import IdempotencyKeyReused, InvalidInput
from tracking.cases.models import Case, CaseEvent, PriorFilmRequest, Step
from tracking.cases.opening import CaseOpening, open_case, opening_hash
from tracking.cases.recording import record_event
from tracking.cases.state import request_hash
from tracking.reminders.priors import chase_prior_films

workup = test_cli.workup  # the `workup` fixture: run the real command against the test database

WRITTEN = ("patients", "cases", "case_events", "steps", "outside_facilities", "prior_film_requests", "audit_log",
           "case_runs", "notifications")  # fmt: skip


def counts(session) -> dict[str, int]:
    session.flush()
    return {table: session.execute(text(f"SELECT count(*) FROM {table}")).scalar_one() for table in WRITTEN}


def due(session, case_id: int) -> dict[str, datetime]:
    steps = session.exec(select(Step).where(Step.case_id == case_id)).all()
    return {step.kind: step.due_at for step in steps}


def test_due_dates_count_from_the_exam_not_from_entry(session, now):
    exam = now - timedelta(days=3, hours=2)
    opened = open_case(session, seed_opening(occurred_at=exam), actor="nav", now=now)
    case = session.get(Case, opened.case_id)
    event = session.get(CaseEvent, opened.event_id)
    assert case.opened_at == exam
    assert (event.occurred_at, event.recorded_at) == (exam, now)  # when it happened, when it was entered
    steps = due(session, case.id)
    assert steps["magnification_views"] == exam + timedelta(days=7)  # not entry + 7 days
    assert steps["ultrasound"] == exam + timedelta(days=14)
    assert steps["prior_film_request"] == exam + timedelta(days=30)  # MQSA counts from the exam
    # The facility is asked when the case is entered: its chases count from then.
    requests = session.exec(select(PriorFilmRequest).where(PriorFilmRequest.case_id == case.id)).all()
    assert {request.requested_at for request in requests} == {now}
    # An event between the exam and the entry is not "before the case was opened".
    record_event(session, case.id, "magnification_result", SUSPICIOUS_MAG, actor="rad", now=now,
                 occurred_at=exam + timedelta(days=1))  # fmt: skip


def test_without_occurred_at_the_case_opens_now(session, now):
    opened = open_case(session, seed_opening(), actor="nav", now=now)
    assert session.get(Case, opened.case_id).opened_at == now
    assert due(session, opened.case_id)["magnification_views"] == now + timedelta(days=7)


def test_a_back_dated_case_does_not_chase_a_facility_it_has_just_asked(session, now, configure):
    configure(WORKUP_NAVIGATOR_EMAIL="nav@center.test")
    open_case(session, seed_opening(occurred_at=now - timedelta(days=20)), actor="nav", now=now)
    assert chase_prior_films(session, now + timedelta(hours=1)).chases == 0
    assert chase_prior_films(session, now + timedelta(days=7)).requests_chased == 2


@pytest.mark.parametrize(
    ("moment", "says"),
    [
        (timedelta(minutes=6), "is in the future"),
        (timedelta(days=2), "is in the future"),
        (-timedelta(days=366), "more than 365 days ago (WORKUP_OPENING_MAX_AGE_DAYS)"),
    ],
)
def test_a_future_or_too_old_exam_is_refused_and_nothing_is_written(session, now, moment, says):
    before = counts(session)
    with pytest.raises(InvalidInput) as raised, session.begin_nested():
        open_case(session, seed_opening(occurred_at=now + moment), actor="nav", now=now, idempotency_key="exam-1")
    assert str(raised.value).startswith("occurred_at ") and says in str(raised.value)
    assert raised.value.exit_code == 2
    assert counts(session) == before


def test_the_limits_are_inclusive_of_clock_skew_and_configurable(session, now, configure):
    open_case(session, seed_opening(occurred_at=now + timedelta(minutes=4)), actor="nav", now=now)
    open_case(session, seed_opening(mrn="EXAM-OLD", occurred_at=now - timedelta(days=365)), actor="nav", now=now)
    configure(WORKUP_OPENING_MAX_AGE_DAYS="30")
    with pytest.raises(InvalidInput, match=r"more than 30 days ago \(WORKUP_OPENING_MAX_AGE_DAYS\)"):
        open_case(session, seed_opening(mrn="EXAM-31", occurred_at=now - timedelta(days=31)), actor="nav", now=now)
    open_case(session, seed_opening(mrn="EXAM-29", occurred_at=now - timedelta(days=29)), actor="nav", now=now)


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("2026-03-01T09:00:00", "needs a time zone"),
        ("2026-03-01", "needs a time zone"),
        ("yesterday", "must be an ISO 8601 date-time"),
        (1772355600, "must be an ISO 8601 date-time"),
        ("1899-12-31T09:00:00Z", "between the years 1900 and 2199"),
    ],
)
def test_occurred_at_must_be_iso_8601_with_a_zone(value, says):
    raw = {**seed_opening().model_dump(), "occurred_at": value}
    with pytest.raises(ValidationError) as raised:
        CaseOpening.model_validate(raw)
    [error] = raised.value.errors()
    assert error["loc"] == ("occurred_at",) and says in error["msg"]


def test_occurred_at_is_read_as_utc_in_any_notation():
    opening = CaseOpening.model_validate({**seed_opening().model_dump(), "occurred_at": "2026-03-01T11:00:00+02:00"})
    assert opening.occurred_at == datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
    assert opening.occurred_at.tzinfo == UTC


def test_the_exam_moment_is_part_of_the_request_under_one_key(session, now):
    exam = now - timedelta(days=2)
    first = open_case(session, seed_opening(occurred_at=exam), actor="nav", now=now, idempotency_key="exam-key")
    same = seed_opening(occurred_at=exam.astimezone(datetime.fromisoformat("2026-01-01T00:00+05:30").tzinfo))
    again = open_case(session, same, actor="nav", now=now + timedelta(minutes=3), idempotency_key="exam-key")
    assert again.replayed and again.case_id == first.case_id
    before = counts(session)
    for other in (seed_opening(occurred_at=exam + timedelta(minutes=1)), seed_opening()):
        with pytest.raises(IdempotencyKeyReused, match="'exam-key'"), session.begin_nested():
            open_case(session, other, actor="nav", now=now, idempotency_key="exam-key")
    assert counts(session) == before


def test_an_opening_without_occurred_at_hashes_as_before_it_existed():
    """Hashes stored before occurred_at, palpable and contact existed still match a retry that leaves them out."""
    opening = seed_opening()
    before = opening.model_dump(mode="json")
    del before["occurred_at"], before["palpable"], before["contact"]
    assert opening_hash(opening) == request_hash({"request": "open_case", "opening": before})
    assert opening_hash(seed_opening(palpable=True)) != opening_hash(opening)


# --- the `workup` command ----------------------------------------------------------------------------


def wall_clock_minus(**delta: float) -> datetime:
    return (datetime.now(UTC) - timedelta(**delta)).replace(microsecond=0)


def test_cli_opens_as_of_the_exam(workup, committed):
    exam = wall_clock_minus(days=3)
    process = workup("case", "open", *SEED_FLAGS, "--occurred-at", exam.isoformat(), "--json")
    assert process.returncode == 0, process.stderr
    opened = json.loads(process.stdout)
    assert datetime.fromisoformat(opened["case"]["opened_at"]) == exam
    [event] = opened["events"]
    assert datetime.fromisoformat(event["occurred_at"]) == exam
    assert datetime.fromisoformat(event["recorded_at"]) > exam + timedelta(days=2)
    mag = [step for step in opened["steps"] if step["kind"] == "magnification_views"]
    assert [datetime.fromisoformat(step["due_at"]) for step in mag] == [exam + timedelta(days=7)]


def test_cli_occurred_at_in_the_file(workup, committed, tmp_path):
    exam = wall_clock_minus(days=10)
    body = {"mrn": "CLI-FILE-1", "given_name": "Ada", "family_name": "Filetest", "birth_date": "1970-01-02",
            "laterality": "right", "density": "a", "occurred_at": exam.isoformat()}  # fmt: skip
    path = tmp_path / "case.json"
    path.write_text(json.dumps(body), encoding="utf-8")
    process = workup("case", "open", "--file", str(path), "--json")
    assert process.returncode == 0, process.stderr
    assert datetime.fromisoformat(json.loads(process.stdout)["case"]["opened_at"]) == exam
    both = workup("case", "open", "--file", str(path), "--occurred-at", exam.isoformat())
    assert "not both" in one_clear_line(both) and both.returncode == 2


@pytest.mark.parametrize(
    ("value", "says"),
    [
        (lambda: wall_clock_minus(hours=-2).isoformat(), "is in the future"),
        (lambda: wall_clock_minus(days=400).isoformat(), "more than 365 days ago (WORKUP_OPENING_MAX_AGE_DAYS)"),
        (lambda: wall_clock_minus(days=1).replace(tzinfo=None).isoformat(), "needs a time zone"),
        (lambda: "last tuesday", "must be an ISO 8601 date-time"),
    ],
)
def test_cli_refuses_a_bad_exam_moment_with_exit_2_and_writes_nothing(workup, committed, value, says):
    process = workup("case", "open", *SEED_FLAGS, "--occurred-at", value())
    line = one_clear_line(process)
    assert process.returncode == 2 and "occurred_at" in line and says in line, line
    assert count(committed, "cases") == 0 and count(committed, "patients") == 0
    assert count(committed, "outside_facilities") == 0


def test_cli_limit_follows_the_setting(workup, committed):
    process = workup("case", "open", *SEED_FLAGS, "--occurred-at", wall_clock_minus(days=8).isoformat(),
                     env={"WORKUP_OPENING_MAX_AGE_DAYS": "7"})  # fmt: skip
    assert "more than 7 days ago" in one_clear_line(process) and process.returncode == 2
    assert count(committed, "cases") == 0
