"""send_reminders: prior-film chasing, visit reminders, and missed appointments to lost-to-follow-up."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlmodel import Session, select

from tests.conftest import empty_tables
from tests.factories import PROBABLY_BENIGN_MAG, followup_case, missed_then_called_twice, seed_opening
from tracking.cases.models import Case, CaseEvent, PriorFilmRequest, Step
from tracking.cases.opening import FacilityRef, open_case
from tracking.cases.queries import list_overdue
from tracking.cases.recording import record_event
from tracking.notify.models import Notification
from tracking.reminders.no_show import advance_missed_appointments
from tracking.reminders.priors import chase_prior_films
from tracking.reminders.visits import remind_upcoming_visits

WORKUP = str(Path(sys.executable).parent / "workup")
FACILITIES = [
    FacilityRef(name="Chase Email Imaging", channel="email", contact="films@email-imaging.test"),
    FacilityRef(name="Chase Fax Radiology", channel="fax", contact="+1-555-0199"),
]


def kinds(session: Session) -> Counter:
    return Counter(session.exec(select(Notification.kind)).all())


def test_prior_film_chases_over_40_simulated_days(session, now, configure):
    configure(WORKUP_NAVIGATOR_EMAIL="nav@center.test", WORKUP_ESCALATION_EMAIL="lead@center.test")
    case_id = open_case(session, seed_opening(facilities=FACILITIES), actor="nav", now=now).case_id
    # the first requests are queued by the opening itself, in its transaction
    assert kinds(session) == Counter({"prior_film_request": 1, "prior_film_manual": 1})
    for day in range(41):
        for hour in (0, 12):  # two reminder runs a day: still one chase per due point
            chase_prior_films(session, now + timedelta(days=day, hours=hour))
    # email facility: chased by email on days 7 and 14; fax facility: a navigator task each time
    assert kinds(session) == Counter(
        {"prior_film_request": 1, "prior_film_chase": 2, "prior_film_manual": 3, "prior_film_escalation": 2}
    )
    chases = session.exec(
        select(Notification.recipient, Notification.payload).where(Notification.kind == "prior_film_chase")
    ).all()
    assert [(recipient, payload["attempt"]) for recipient, payload in chases] == [
        ("films@email-imaging.test", 1),
        ("films@email-imaging.test", 2),
    ]
    escalations = session.exec(select(Notification.recipient).where(Notification.kind == "prior_film_escalation"))
    assert set(escalations) == {"lead@center.test"}
    requests = session.exec(select(PriorFilmRequest).where(PriorFilmRequest.case_id == case_id)).all()
    assert sorted(request.chase_count for request in requests) == [2, 2]


def test_chasing_stops_when_films_arrive_or_are_unobtainable(session, now, configure):
    configure(WORKUP_NAVIGATOR_EMAIL="nav@center.test")
    case_id = open_case(session, seed_opening(facilities=FACILITIES), actor="nav", now=now).case_id
    requests = {
        request.facility_id: request
        for request in session.exec(select(PriorFilmRequest).where(PriorFilmRequest.case_id == case_id))
    }
    email_facility, fax_facility = sorted(requests)
    chase_prior_films(session, now + timedelta(days=8))  # first chase for both
    record_event(
        session, case_id, "prior_films_received", {"facility_id": email_facility, "comparison": "stable"},
        actor="nav", now=now + timedelta(days=9),
    )  # fmt: skip
    record_event(
        session, case_id, "prior_films_unobtainable", {"facility_id": fax_facility, "reason": "Records destroyed"},
        actor="nav", now=now + timedelta(days=10),
    )  # fmt: skip
    for day in range(11, 41):
        chase_prior_films(session, now + timedelta(days=day))
    # the first request to each (queued at opening), then one chase each before the films were settled
    assert kinds(session) == Counter({"prior_film_request": 1, "prior_film_chase": 1, "prior_film_manual": 2})


def test_visit_reminders_before_the_6_month_target(session, now, configure, webhook):
    configure(WORKUP_PATIENT_MESSAGING_WEBHOOK_URL=webhook.url)
    case_id = open_case(session, seed_opening(facilities=[], density="b"), actor="nav", now=now).case_id
    record_event(session, case_id, "magnification_result", PROBABLY_BENIGN_MAG, actor="rad", now=now)
    sent_on = []
    for day in range(0, 200):
        if remind_upcoming_visits(session, now + timedelta(days=day)).reminders:
            sent_on.append(day)
    target = (now.replace(month=9) - now).days  # 6 months after 2 March is 2 September
    assert sent_on == [target - 30, target - 7]
    payloads = session.exec(select(Notification.payload).where(Notification.kind == "followup_reminder")).all()
    assert [payload["days_before"] for payload in payloads] == [30, 7]
    assert all(payload["step"] == "followup_6_month" for payload in payloads)


def test_missed_appointment_leads_to_lost_to_follow_up_and_stays_visible(session, now, configure, webhook):
    configure(WORKUP_PATIENT_MESSAGING_WEBHOOK_URL=webhook.url)
    case_id = open_case(session, seed_opening(facilities=[], density="b"), actor="nav", now=now).case_id
    record_event(session, case_id, "magnification_result", PROBABLY_BENIGN_MAG, actor="rad", now=now)
    record_event(session, case_id, "result_letter_sent", {"density_sentence_included": True}, actor="nav", now=now)
    day = now + timedelta(days=215)
    record_event(session, case_id, "appointment_missed", {"step": "followup_6_month"}, actor="nav", now=day)
    for number in (1, 2):
        advance_missed_appointments(session, day + timedelta(days=number))  # calls are the navigators' job
        record_event(
            session, case_id, "contact_attempt", {"method": "call", "outcome": "no_answer"},
            actor="nav", now=day + timedelta(days=number),
        )  # fmt: skip
    report = advance_missed_appointments(session, day + timedelta(days=3))
    assert (report.letters, report.lost_to_follow_up) == (1, 0)
    again = advance_missed_appointments(session, day + timedelta(days=4))
    assert (again.letters, again.lost_to_follow_up) == (0, 0)  # the letter went once; now the wait
    assert session.get(Case, case_id).status == "open"
    lost = advance_missed_appointments(session, day + timedelta(days=3 + 14))
    assert lost.lost_to_follow_up == 1
    case = session.get(Case, case_id)
    assert (case.status, case.closed_at) == ("lost_to_follow_up", None)
    overdue = list_overdue(session, day + timedelta(days=30), actor="ops")
    # the missed exam, and the notice to the referring provider the pathway owes once a case is lost
    assert sorted((row.case_id, row.kind, row.case_status) for row in overdue) == [
        (case_id, "followup_6_month", "lost_to_follow_up"),
        (case_id, "referrer_lost_notice", "lost_to_follow_up"),
    ]
    letters = session.exec(select(Notification).where(Notification.kind == "contact_letter")).all()
    assert [(letter.channel, letter.payload["step"]) for letter in letters] == [("webhook", "followup_6_month")]
    # the patient calls back: booking the exam brings the case back
    record_event(
        session, case_id, "appointment_booked",
        {"step": "followup_6_month", "scheduled_for": (day + timedelta(days=40)).isoformat()},
        actor="nav", now=day + timedelta(days=31),
    )  # fmt: skip
    assert session.get(Case, case_id).status == "open"


def test_reminders_flow_runs_every_part(prefect_harness, committed, now, configure, webhook):
    from flows.reminders import send_reminders

    configure(WORKUP_NAVIGATOR_EMAIL="nav@center.test", WORKUP_PATIENT_MESSAGING_WEBHOOK_URL=webhook.url)
    with Session(committed) as session:
        case_id = open_case(session, seed_opening(facilities=FACILITIES), actor="nav", now=now).case_id
        session.commit()
    report = send_reminders(now=now + timedelta(days=8))
    assert report["prior_films"] == {
        "chases": 2, "requests_chased": 2, "escalations": 0, "chased_case_ids": [case_id], "escalated_case_ids": [],
    }  # fmt: skip
    assert send_reminders(now=now + timedelta(days=8))["prior_films"]["chases"] == 0


def test_a_case_already_lost_is_never_declared_lost_again(session, now, configure, webhook):
    configure(WORKUP_PATIENT_MESSAGING_WEBHOOK_URL=webhook.url)
    case_id = followup_case(session, now, "LOST-TWICE")
    missed = now + timedelta(days=215)
    missed_then_called_twice(session, case_id, missed)
    assert advance_missed_appointments(session, missed + timedelta(days=3)).letters == 1
    lost = advance_missed_appointments(session, missed + timedelta(days=17))
    assert (lost.lost_to_follow_up, lost.lost_case_ids) == (1, [case_id])
    # A contact step still open on the lost case, its attempts all made and its wait over (the
    # engine closes the chain today; a repaired row or another pathway version might not): the
    # reminders run must not declare the case lost a second time.
    declared = session.exec(select(CaseEvent.id).where(CaseEvent.case_id == case_id).order_by(CaseEvent.id)).all()[-1]
    session.add(Step(case_id=case_id, kind="patient_contact", due_at=missed + timedelta(days=10),
                     created_by_event_id=declared))  # fmt: skip
    session.flush()
    again = advance_missed_appointments(session, missed + timedelta(days=40))
    assert (again.letters, again.lost_to_follow_up, again.skipped) == (0, 0, 0)
    events = session.exec(select(CaseEvent.kind).where(CaseEvent.case_id == case_id)).all()
    assert events.count("lost_to_follow_up_declared") == 1
    assert session.get(Case, case_id).status == "lost_to_follow_up"


# --- one function: the CLI, the flow and the scheduler do the same -----------------------------------

PARITY_SETTINGS = {
    "WORKUP_NAVIGATOR_EMAIL": "nav@center.test",
    "WORKUP_PATIENT_MESSAGING_WEBHOOK_URL": "http://127.0.0.1:9/patients",
}


def seed_everything_due(engine) -> dict[str, int]:
    """Cases dated back from the wall clock so that, now, every part of a reminders run has work."""
    wall = datetime.now(UTC)
    with Session(engine) as session:
        priors = open_case(
            session, seed_opening(mrn="PAR-PRIORS", facilities=FACILITIES), actor="nav", now=wall - timedelta(days=22)
        ).case_id  # chases of days 7 and 14, escalation of day 21
        visit = followup_case(session, wall - timedelta(days=170), "PAR-VISIT")  # target in 11-14 days
        letter = followup_case(session, wall - timedelta(days=230), "PAR-LETTER")
        missed_then_called_twice(session, letter, wall - timedelta(days=15))  # the letter is next
        lost = followup_case(session, wall - timedelta(days=250), "PAR-LOST")
        missed_then_called_twice(session, lost, wall - timedelta(days=35))
        # the letter went 32 days ago (logged by a navigator): the wait of 14 days after it is over
        record_event(session, lost, "contact_attempt", {"method": "letter", "outcome": "letter_sent"},
                     actor="nav", now=wall - timedelta(days=32))  # fmt: skip
        session.commit()
    return {"priors": priors, "visit": visit, "letter": letter, "lost": lost}


def test_the_flow_the_scheduler_and_the_cli_run_the_same_reminders(prefect_harness, committed, database_url, configure):
    from flows.reminders import send_reminders
    from tracking.scheduler import default_jobs
    from tracking.settings import get_settings

    configure(**PARITY_SETTINGS)
    [job] = [job for job in default_jobs(get_settings()) if job.name == "send_reminders"]
    assert job.run is send_reminders  # the scheduler fires the flow; without Prefect, job.without_prefect

    def cli() -> dict:
        environment = {**os.environ, "DATABASE_URL": database_url}
        process = subprocess.run([WORKUP, "reminders", "--json"], capture_output=True, text=True, env=environment,
                                 timeout=120)  # fmt: skip
        assert process.returncode == 0, process.stderr
        report = json.loads(process.stdout)
        del report["now"]
        return report

    reports = {}
    for name, run in (("cli", cli), ("flow", send_reminders), ("scheduler", job.without_prefect)):
        empty_tables(committed)  # the same cases, the same ids, for each
        cases = seed_everything_due(committed)
        reports[name] = run()
    assert reports["flow"] == reports["cli"] == reports["scheduler"]
    assert reports["cli"] == {
        "prior_films": {"chases": 4, "requests_chased": 2, "escalations": 2,
                        "chased_case_ids": [cases["priors"]], "escalated_case_ids": [cases["priors"]]},
        "visits": {"reminders": 1, "reminded_case_ids": [cases["visit"]]},
        "missed_appointments": {"letters": 1, "lost_to_follow_up": 1, "skipped": 0,
                                "letter_case_ids": [cases["letter"]], "lost_case_ids": [cases["lost"]],
                                "skipped_case_ids": []},
    }  # fmt: skip
