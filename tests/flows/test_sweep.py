"""The overdue sweep: one alert per overdue step, escalation on the pathway's thresholds, idempotent."""

from __future__ import annotations

import threading
from datetime import timedelta

from sqlalchemy import text
from sqlmodel import Session, select

from tests.factories import SUSPICIOUS_MAG, seed_opening
from tracking.alerts.models import Alert
from tracking.alerts.service import acknowledge_alert
from tracking.alerts.sweep import sweep_overdue
from tracking.cases.models import Step
from tracking.cases.opening import open_case
from tracking.cases.recording import record_event
from tracking.notify.models import Notification

CATCH_UP = text(
    "UPDATE case_runs SET status = 'done', attempts = attempts + 1, finished_at = requested_at WHERE status = 'pending'"
)


DELIVERED = text("UPDATE notifications SET status = 'delivered', delivered_at = created_at WHERE status = 'pending'")


def sweep_concurrently(engine, moments) -> list[Exception]:
    """One sweep per moment, each in its own session and thread, released together; the errors they raised."""
    barrier = threading.Barrier(len(moments))
    errors: list[Exception] = []

    def run(moment) -> None:
        try:
            with Session(engine) as session:
                barrier.wait(timeout=10)
                sweep_overdue(session, moment)
                session.commit()
        except Exception as error:  # any failure fails the calling test
            errors.append(error)

    threads = [threading.Thread(target=run, args=(moment,)) for moment in moments]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return errors


def runner_caught_up(session: Session) -> None:
    """The case runner has run every request and the outbox has delivered what it queued: these tests
    are about overdue steps, not stalled runs or messages still waiting to be sent."""
    session.execute(CATCH_UP)
    session.execute(DELIVERED)


def alerts_on(session: Session, case_id: int) -> list[tuple[str, int, str]]:
    rows = session.exec(
        select(Step.kind, Alert.level, Alert.status)
        .join(Step, Step.id == Alert.step_id)
        .where(Alert.case_id == case_id)
    )
    return sorted(rows)


def test_seed_case_left_alone_gets_one_level_1_alert_then_escalates(session, now):
    """Done-when: day 8, exactly one level-1 alert on magnification views; day 15, escalated, still the only one."""
    case_id = open_case(session, seed_opening(), actor="nav", now=now).case_id
    runner_caught_up(session)
    sweep_overdue(session, now + timedelta(days=8))
    assert alerts_on(session, case_id) == [("magnification_views", 1, "open")]
    report = sweep_overdue(session, now + timedelta(days=15))
    assert report.escalated == 1 and report.raised == 1  # the ultrasound (due day 14) is now overdue too
    assert alerts_on(session, case_id) == [("magnification_views", 2, "open"), ("ultrasound", 1, "open")]
    magnification = session.exec(
        select(Alert).join(Step, Step.id == Alert.step_id).where(Step.kind == "magnification_views")
    ).all()
    assert len(magnification) == 1 and magnification[0].escalated_at == now + timedelta(days=15)


def test_escalation_timeline_and_resolution(session, now, configure):
    configure(WORKUP_NAVIGATOR_EMAIL="nav@center.test", WORKUP_ESCALATION_EMAIL="lead@center.test")
    case_id = open_case(session, seed_opening(facilities=[], density="b"), actor="nav", now=now).case_id
    runner_caught_up(session)
    levels = []
    for day in (7, 8, 13, 14, 20, 21, 40):
        sweep_overdue(session, now + timedelta(days=day))
        levels.append([level for _, level, status in alerts_on(session, case_id) if status != "resolved"])
    # due at day 7 (not overdue at exactly day 7); level 2 from 7 days overdue, level 3 from 14
    assert levels == [[], [1], [1], [2], [2], [3], [3]]
    sent = session.exec(select(Notification.kind, Notification.recipient).order_by(Notification.id)).all()
    assert sent == [
        ("overdue_alert", "nav@center.test"),
        ("alert_escalated", "lead@center.test"),
        ("alert_escalated", "lead@center.test"),
    ]
    record_event(session, case_id, "magnification_result", SUSPICIOUS_MAG, actor="rad", now=now + timedelta(days=41))
    runner_caught_up(session)
    report = sweep_overdue(session, now + timedelta(days=41))
    assert report.resolved == 1
    assert alerts_on(session, case_id) == [("magnification_views", 3, "resolved")]


def test_sweeping_twice_at_the_same_moment_changes_nothing(session, now, configure):
    configure(WORKUP_NAVIGATOR_EMAIL="nav@center.test")
    for number in range(3):
        open_case(session, seed_opening(mrn=f"SWEEP-{number}"), actor="nav", now=now - timedelta(days=10 * number))
    runner_caught_up(session)
    moment = now + timedelta(days=20)
    first = sweep_overdue(session, moment)
    snapshot = session.execute(text("SELECT id, step_id, level, status, escalated_at FROM alerts ORDER BY id")).all()
    notifications = session.execute(text("SELECT count(*) FROM notifications")).scalar()
    second = sweep_overdue(session, moment)
    assert first.raised > 0 and first.notifications == first.raised
    assert set(second.as_dict().values()) == {0}
    assert session.execute(text("SELECT id, step_id, level, status, escalated_at FROM alerts ORDER BY id")).all() == (
        snapshot
    )
    assert session.execute(text("SELECT count(*) FROM notifications")).scalar() == notifications


def test_concurrent_sweeps_leave_one_unresolved_alert_per_step(committed, now, configure):
    configure(WORKUP_NAVIGATOR_EMAIL="nav@center.test")
    with Session(committed) as session:
        for number in range(20):
            open_case(session, seed_opening(mrn=f"RACE-{number}"), actor="nav", now=now - timedelta(days=number))
        runner_caught_up(session)
        session.commit()
    assert sweep_concurrently(committed, [now + timedelta(days=day) for day in (16, 16, 16, 30)]) == []
    with committed.connect() as connection:
        per_step = connection.execute(
            text("SELECT step_id, count(*) FROM alerts WHERE status <> 'resolved' GROUP BY step_id")
        ).all()
        overdue = connection.execute(
            text(
                "SELECT count(*) FROM steps WHERE status IN ('pending', 'scheduled') "
                "AND due_at < CAST(:moment AS timestamptz)"
            ),
            {"moment": now + timedelta(days=16)},
        ).scalar()
        duplicates = connection.execute(
            text(
                "SELECT alert_id, count(*) FROM notifications WHERE alert_id IS NOT NULL "
                "GROUP BY alert_id, recipient, payload->>'level' HAVING count(*) > 1"
            )
        ).all()
    assert per_step and all(count == 1 for _, count in per_step)
    assert len(per_step) >= overdue
    assert duplicates == []


def test_acknowledged_alert_escalates_later_and_snooze_holds_escalation(session, now):
    case_id = open_case(session, seed_opening(facilities=[], density="b"), actor="nav", now=now).case_id
    runner_caught_up(session)
    sweep_overdue(session, now + timedelta(days=8))
    alert = session.exec(select(Alert).where(Alert.case_id == case_id)).one()
    acknowledge_alert(
        session, alert.id, actor="nav:kim", reason="Patient booked for Friday", now=now + timedelta(days=9)
    )
    sweep_overdue(session, now + timedelta(days=10))
    session.refresh(alert)
    assert (alert.status, alert.level, alert.acknowledged_by) == ("acknowledged", 1, "nav:kim")
    sweep_overdue(session, now + timedelta(days=15))  # acknowledged, not snoozed: escalation reopens it
    session.refresh(alert)
    assert (alert.status, alert.level) == ("open", 2)
    acknowledge_alert(
        session, alert.id, actor="nav:kim", reason="Waiting for radiologist", now=now + timedelta(days=16),
        snooze_until=now + timedelta(days=25),
    )  # fmt: skip
    sweep_overdue(session, now + timedelta(days=22))  # would be level 3, but snoozed
    session.refresh(alert)
    assert (alert.status, alert.level) == ("acknowledged", 2)
    sweep_overdue(session, now + timedelta(days=25))
    session.refresh(alert)
    assert (alert.status, alert.level, alert.snoozed_until) == ("open", 3, None)
    audit = session.execute(
        text("SELECT action, detail->>'reason' FROM audit_log WHERE detail ? 'alert_id' ORDER BY id")
    ).all()
    assert audit == [
        ("alert.acknowledged", "Patient booked for Friday"),
        ("alert.snoozed", "Waiting for radiologist"),
    ]


def test_sweep_runs_as_a_prefect_flow(prefect_harness, committed, now):
    from flows.sweep import sweep_overdue_steps

    with Session(committed) as session:
        open_case(session, seed_opening(), actor="nav", now=now)
        runner_caught_up(session)
        session.commit()
    first = sweep_overdue_steps(now=now + timedelta(days=8))
    again = sweep_overdue_steps(now=now + timedelta(days=8))
    assert first["raised"] == 1 and again["raised"] == 0
