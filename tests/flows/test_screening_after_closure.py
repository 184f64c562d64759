"""Screening stays tracked after closure: a closed case's handed-off annual screening is reminded 30
days before its target, alerted and escalated once overdue, and on the recall list until it is done."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import text
from sqlmodel import Session, select

from tests.factories import BENIGN_MAG, seed_opening
from tracking.alerts.models import Alert
from tracking.alerts.sweep import sweep_overdue
from tracking.cases.errors import InvalidInput
from tracking.cases.models import Case, Step
from tracking.cases.opening import open_case
from tracking.cases.recording import record_event
from tracking.notify.models import Notification
from tracking.reminders.visits import remind_upcoming_visits
from tracking.screening.queries import RecallFilters, overdue_count, screening_recall

CATCH_UP = text(
    "UPDATE case_runs SET status = 'done', attempts = attempts + 1, finished_at = requested_at WHERE status = 'pending'"
)


def closed_case(session: Session, now: datetime, mrn: str = "SCREEN-1") -> tuple[int, Step]:
    """A BI-RADS 2 case closed through the pathway once its letter is sent: returns it and its handed-off screening."""
    case_id = open_case(session, seed_opening(mrn=mrn, facilities=[], density="b"), actor="nav", now=now).case_id
    record_event(session, case_id, "magnification_result", BENIGN_MAG, actor="rad", now=now + timedelta(days=1))
    record_event(session, case_id, "result_letter_sent", {"density_sentence_included": True}, actor="nav",
                 now=now + timedelta(days=2))  # fmt: skip
    session.execute(CATCH_UP)
    assert session.get(Case, case_id).status == "closed"
    step = session.exec(select(Step).where(Step.case_id == case_id, Step.status == "handed_off")).one()
    assert step.kind == "annual_screening"
    return case_id, step


def complete_screening(session: Session, case_id: int, at: datetime) -> None:
    """Record the screening exam on the closed case, as a navigator does (the pathway allows it there)."""
    record_event(session, case_id, "screening_done", {"birads": "1"}, actor="nav", now=at)


def screening_alerts(session: Session, step_id: int) -> list[tuple[int, str]]:
    session.expire_all()
    return [(alert.level, alert.status) for alert in session.exec(select(Alert).where(Alert.step_id == step_id))]


def test_overdue_handed_off_screening_is_alerted_escalated_and_resolved_when_done(session, now, configure):
    configure(WORKUP_NAVIGATOR_EMAIL="nav@center.test", WORKUP_ESCALATION_EMAIL="lead@center.test")
    case_id, step = closed_case(session, now)
    due = step.due_at
    assert sweep_overdue(session, due).raised == 0  # due, not yet overdue
    levels = []
    for day in (1, 7, 14, 40):
        sweep_overdue(session, due + timedelta(days=day))
        levels.append(screening_alerts(session, step.id))
    assert levels == [[(1, "open")], [(2, "open")], [(3, "open")], [(3, "open")]]
    sent = session.exec(
        select(Notification.kind, Notification.recipient, Notification.payload["step"].astext)
        .where(Notification.alert_id.is_not(None))
        .order_by(Notification.id)
    ).all()
    assert sent == [
        ("overdue_alert", "nav@center.test", "annual_screening"),
        ("alert_escalated", "lead@center.test", "annual_screening"),
        ("alert_escalated", "lead@center.test", "annual_screening"),
    ]
    assert session.execute(text("SELECT count(*) FROM alerts WHERE kind = 'case_stalled'")).scalar() == 0
    complete_screening(session, case_id, due + timedelta(days=41))
    report = sweep_overdue(session, due + timedelta(days=41))
    assert report.resolved == 1
    assert screening_alerts(session, step.id) == [(3, "resolved")]


def test_screening_done_elsewhere_resolves_its_alert_and_ends_the_recall(session, now):
    case_id, step = closed_case(session, now)
    moment = step.due_at + timedelta(days=3)
    sweep_overdue(session, moment)
    assert [row.case_id for row in screening_recall(session, moment, actor="nav:kim")[0]] == [case_id]
    record_event(session, case_id, "screening_done_elsewhere", {"reason": "Screened at Northside in March"},
                 actor="nav", now=moment)  # fmt: skip
    session.expire_all()
    assert session.get(Step, step.id).status == "cancelled"
    assert sweep_overdue(session, step.due_at + timedelta(days=4)).resolved == 1
    assert screening_alerts(session, step.id) == [(1, "resolved")]
    assert screening_recall(session, moment, actor="nav:kim")[0] == []


def test_handed_off_screening_of_a_case_that_is_not_closed_is_not_swept_as_screening(session, now):
    """Only a closed case's handed-off screening is tracked as such (an open case is watched by its workup)."""
    case_id, step = closed_case(session, now)
    session.execute(text("UPDATE cases SET status = 'open', closed_at = NULL WHERE id = :id"), {"id": case_id})
    sweep_overdue(session, step.due_at + timedelta(days=3))
    assert screening_alerts(session, step.id) == []


def test_the_30_day_reminder_fires_for_a_closed_cases_screening(session, now, configure, webhook):
    configure(WORKUP_PATIENT_MESSAGING_WEBHOOK_URL=webhook.url)
    case_id, step = closed_case(session, now)
    assert step.target_at is not None and step.target_at < step.due_at  # the screening's window ends at due_at
    sent_on = []
    start = step.target_at - timedelta(days=40)
    for day in range(0, 80):
        if remind_upcoming_visits(session, start + timedelta(days=day)).reminders:
            sent_on.append(day)
    assert sent_on == [10]  # 30 days before the target, once
    [reminder] = session.exec(select(Notification).where(Notification.kind == "followup_reminder")).all()
    assert (reminder.case_id, reminder.step_id, reminder.payload["step"], reminder.payload["days_before"]) == (
        case_id,
        step.id,
        "annual_screening",
        30,
    )


def test_recall_list_filters_audits_and_ends_when_screening_is_done(session, now):
    first, first_step = closed_case(session, now, mrn="SCREEN-A")
    second, second_step = closed_case(session, now + timedelta(days=60), mrn="SCREEN-B")
    open_case(session, seed_opening(mrn="SCREEN-OPEN"), actor="nav", now=now)  # its screening is not handed off
    moment = first_step.due_at + timedelta(days=5)  # the first overdue by 5 days, the second due in 55
    sweep_overdue(session, moment)

    rows, total = screening_recall(session, moment, actor="nav:kim")
    assert total == 2
    assert [(row.case_id, row.step_id, row.days_overdue, row.alert_level) for row in rows] == [
        (first, first_step.id, 5, 1),
        (second, second_step.id, 0, None),
    ]
    assert rows[0].patient_name == "Testcase, Maren" and rows[0].mrn == "SCREEN-A"
    data = rows[0].as_dict()
    assert "mrn" not in data and "patient" not in data
    assert (data["target_at"], data["due_at"], data["window_closes_at"]) == (
        first_step.target_at.isoformat(),
        first_step.due_at.isoformat(),
        first_step.due_at.isoformat(),
    )
    assert data["overdue"] is True

    overdue, _ = screening_recall(session, moment, actor="nav:kim", filters=RecallFilters(overdue_only=True))
    assert [row.case_id for row in overdue] == [first]
    soon, _ = screening_recall(session, moment, actor="nav:kim", filters=RecallFilters(due_within_days=30))
    assert [row.case_id for row in soon] == [first]
    later, _ = screening_recall(session, moment, actor="nav:kim", filters=RecallFilters(due_within_days=60))
    assert [row.case_id for row in later] == [first, second]
    page, total = screening_recall(session, moment, actor="nav:kim", offset=1, limit=1)
    assert ([row.case_id for row in page], total) == ([second], 2)
    assert overdue_count(session, moment) == 1

    audit = (
        session.execute(
            text("SELECT detail FROM audit_log WHERE action = 'screening.listed' AND actor = 'nav:kim' ORDER BY id")
        )
        .scalars()
        .all()
    )
    assert [entry["case_ids"] for entry in audit] == [
        sorted([first, second]),
        [first],
        [first],
        sorted([first, second]),
        [second],
    ]

    complete_screening(session, first, moment)
    rows, total = screening_recall(session, moment, actor="nav:kim")
    assert ([row.case_id for row in rows], total) == ([second], 1)


@pytest.mark.parametrize(
    ("filters", "message"),
    [
        (RecallFilters(due_within_days=-1), "due within must be 0 to 3650 days"),
        (RecallFilters(due_within_days=3651), "due within must be 0 to 3650 days"),
        (RecallFilters(overdue_only=True, due_within_days=7), "not both"),
    ],
)
def test_bad_filters_are_refused_and_nothing_is_audited(session, now, filters, message):
    with pytest.raises(InvalidInput, match=message):
        screening_recall(session, now, actor="nav:kim", filters=filters)
    assert session.execute(text("SELECT count(*) FROM audit_log WHERE action = 'screening.listed'")).scalar() == 0
