"""`workup reminders --now`: every clock-driven reminder job as of a moment, replayable (issue 10).

Cases are seeded through the services 300 days back; the command runs as a real process at
moments along their timeline: prior-film chases on days 7 and 14, the escalation on day 21,
reminders 30 and 7 days before a 6-month follow-up, the contact letter after a missed exam and two
unanswered calls, then "lost to follow-up" after the wait. Each moment, run twice, changes nothing
the second time.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlmodel import Session, select

from tests.factories import followup_case, missed_then_called_twice, seed_opening
from tests.integration import test_cli
from tests.integration.test_cli import count, one_clear_line
from tracking.cases.models import Case, CaseEvent, Step
from tracking.cases.opening import FacilityRef, open_case

workup = test_cli.workup  # the `workup` fixture: run the real command against the test database

FACILITIES = [
    FacilityRef(name="Rem Email Imaging", channel="email", contact="films@rem-email.test"),
    FacilityRef(name="Rem Fax Radiology", channel="fax", contact="+1-555-0142"),
]
SETTINGS = {
    "WORKUP_NAVIGATOR_EMAIL": "nav@center.test",
    "WORKUP_ESCALATION_EMAIL": "lead@center.test",
    "WORKUP_PATIENT_MESSAGING_WEBHOOK_URL": "http://127.0.0.1:9/patients",
}


def acted(report: dict[str, Any]) -> dict[str, Any]:
    """The report's non-zero counts and non-empty case-id lists, as 'part.name'."""
    return {
        f"{part}.{name}": value
        for part, values in report.items()
        if part != "now"
        for name, value in values.items()
        if value
    }


def written(engine) -> tuple[int, ...]:
    return tuple(count(engine, table) for table in ("notifications", "case_events", "steps", "audit_log", "alerts"))


def test_reminders_as_of_each_moment_and_replayed(workup, committed, configure):
    configure(**SETTINGS)  # for the seeding here; the command inherits the environment
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(days=300)
    with Session(committed) as session:
        priors = open_case(session, seed_opening(mrn="REM-PRIORS", facilities=FACILITIES), actor="nav",
                           now=start).case_id  # fmt: skip
        followup = followup_case(session, start, "REM-FOLLOWUP")
        session.commit()
        window_end = session.exec(
            select(Step.due_at).where(Step.case_id == followup, Step.kind == "followup_6_month")
        ).one()
    target = window_end - timedelta(days=30)  # the 6-month target: the window's end less its 30 days

    def run(at: datetime, expected: dict[str, Any]) -> None:
        process = workup("reminders", "--now", at.isoformat(), "--json")
        assert process.returncode == 0, process.stderr
        report = json.loads(process.stdout)
        assert datetime.fromisoformat(report["now"]) == at
        assert acted(report) == expected, at
        assert "REM-" not in process.stdout and "Testcase" not in process.stdout  # ids only, never PHI
        if not expected:
            return
        before = written(committed)
        again = workup("reminders", "--now", at.isoformat(), "--json")
        assert acted(json.loads(again.stdout)) == {}, at  # the same moment twice: nothing the second time
        assert written(committed) == before

    chased = {"prior_films.chases": 2, "prior_films.requests_chased": 2, "prior_films.chased_case_ids": [priors]}
    run(start + timedelta(days=6), {})
    run(start + timedelta(days=7), chased)  # email chase 1, fax: a navigator task
    run(start + timedelta(days=14), chased)  # chase 2
    run(start + timedelta(days=21), {"prior_films.escalations": 2, "prior_films.escalated_case_ids": [priors]})
    reminded = {"visits.reminders": 1, "visits.reminded_case_ids": [followup]}
    run(target - timedelta(days=30), reminded)
    run(target - timedelta(days=7), reminded)

    missed = window_end + timedelta(days=1)
    with Session(committed) as session:
        missed_then_called_twice(session, followup, missed)
        session.commit()
    run(
        missed + timedelta(days=3),
        {"missed_appointments.letters": 1, "missed_appointments.letter_case_ids": [followup]},
    )
    run(missed + timedelta(days=3 + 13), {})  # the wait after the letter is not over
    lost = {"missed_appointments.lost_to_follow_up": 1, "missed_appointments.lost_case_ids": [followup]}
    run(missed + timedelta(days=3 + 14), lost)
    run(missed + timedelta(days=40), {})  # never declared lost again
    with Session(committed) as session:
        assert session.get(Case, followup).status == "lost_to_follow_up"
        kinds = session.exec(select(CaseEvent.kind).where(CaseEvent.case_id == followup)).all()
        assert kinds.count("lost_to_follow_up_declared") == 1 and kinds.count("contact_attempt") == 3


def test_plain_text_says_what_was_done_by_case_id(workup, committed, configure):
    configure(**SETTINGS)
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=30)
    with Session(committed) as session:
        case_id = open_case(session, seed_opening(facilities=FACILITIES), actor="nav", now=start).case_id
        session.commit()
    at = (start + timedelta(days=7)).isoformat()
    first = workup("reminders", "--now", at)
    assert first.returncode == 0, first.stderr
    assert "Reminders as of" in first.stdout and f"prior-film requests chased: 2 (cases {case_id})" in first.stdout
    assert "Testcase" not in first.stdout
    again = workup("reminders", "--now", at)
    assert "nothing was due" in again.stdout


def test_a_moment_far_in_the_future_needs_allow_future_and_writes_nothing(workup, committed, configure):
    configure(**SETTINGS)
    with Session(committed) as session:
        open_case(session, seed_opening(facilities=FACILITIES), actor="nav", now=datetime.now(UTC))
        session.commit()
    before = written(committed)
    later = (datetime.now(UTC) + timedelta(days=8)).isoformat()
    refused = workup("reminders", "--now", later, "--json")
    assert refused.returncode == 2 and "--allow-future" in one_clear_line(refused)
    assert written(committed) == before
    simulated = workup("reminders", "--now", later, "--allow-future", "--json")
    assert simulated.returncode == 0, simulated.stderr
    assert json.loads(simulated.stdout)["prior_films"]["requests_chased"] == 2
    naive = workup("reminders", "--now", "not-a-moment")
    assert naive.returncode == 2 and "--now" in one_clear_line(naive)
