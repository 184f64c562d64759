"""No silent stall, by check: an open or lost case with no open workup step and nothing alerting gets
one case_stalled alert, whatever the cause; it resolves once the case has a step again or is closed.

The engine keeps cases from reaching that state, so these tests put a case there directly in the
database: the check must not depend on how the case got there.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import text
from sqlmodel import Session, select

from tests.factories import BENIGN_MAG, seed_opening
from tests.flows.test_sweep import sweep_concurrently
from tracking.alerts.models import Alert
from tracking.alerts.service import acknowledge_alert, list_alerts
from tracking.alerts.sweep import sweep_overdue
from tracking.cases.opening import open_case
from tracking.cases.recording import record_event
from tracking.notify.models import Notification
from tracking.notify.render import render

CATCH_UP = text(
    "UPDATE case_runs SET status = 'done', attempts = attempts + 1, finished_at = requested_at WHERE status = 'pending'"
)


def stalled_case(session: Session, now, *, mrn: str = "STALL-1", status: str = "open", keep_screening: bool = False):
    """A case whose steps are all done or cancelled (routine screening too, unless kept) while it stays `status`."""
    case_id = open_case(session, seed_opening(mrn=mrn, facilities=[], density="b"), actor="nav", now=now).case_id
    session.execute(CATCH_UP)  # the case runner has run: no run_stalled alert
    session.execute(
        text(
            "UPDATE steps SET status = 'cancelled' WHERE case_id = :id AND status IN ('pending', 'scheduled') "
            "AND (kind <> 'annual_screening' OR NOT :keep)"
        ),
        {"id": case_id, "keep": keep_screening},
    )
    session.execute(text("UPDATE cases SET status = :status WHERE id = :id"), {"id": case_id, "status": status})
    return case_id


def stalled_alerts(session: Session, case_id: int | None = None) -> list[Alert]:
    query = select(Alert).where(Alert.kind == "case_stalled").order_by(Alert.id)
    if case_id is not None:
        query = query.where(Alert.case_id == case_id)
    session.expire_all()
    return list(session.exec(query))


def alert_rows(session: Session) -> list:
    return session.execute(text("SELECT id, kind, case_id, level, status, resolved_at FROM alerts ORDER BY id")).all()


@pytest.mark.parametrize("status", ["open", "lost_to_follow_up"])
def test_a_case_with_nothing_next_gets_exactly_one_alert_until_it_has_a_step_again(session, now, configure, status):
    configure(WORKUP_NAVIGATOR_EMAIL="nav@center.test", WORKUP_ALERT_WEBHOOK_URL="http://127.0.0.1:9/alerts")
    case_id = stalled_case(session, now, status=status)
    moment = now + timedelta(hours=1)
    first = sweep_overdue(session, moment)
    assert (first.cases_stalled, first.notifications) == (1, 2)  # the navigator's email and the alert webhook
    [alert] = stalled_alerts(session, case_id)
    assert (alert.status, alert.level, alert.step_id, alert.raised_at) == ("open", 1, None, moment)

    snapshot, notes = alert_rows(session), session.execute(text("SELECT count(*) FROM notifications")).scalar()
    again = sweep_overdue(session, moment)
    assert set(again.as_dict().values()) == {0}
    assert alert_rows(session) == snapshot
    assert session.execute(text("SELECT count(*) FROM notifications")).scalar() == notes
    later = sweep_overdue(session, moment + timedelta(days=30))
    assert later.cases_stalled == 0 and len(stalled_alerts(session, case_id)) == 1  # one per case, never escalated

    # Given an open step again (here: the magnification views booked again), the alert resolves
    session.execute(
        text("UPDATE steps SET status = 'pending', due_at = :due WHERE case_id = :id AND kind = 'magnification_views'"),
        {"id": case_id, "due": moment + timedelta(days=60)},
    )
    resolved = sweep_overdue(session, moment + timedelta(days=31))
    assert (resolved.resolved, resolved.cases_stalled) == (1, 0)
    [alert] = stalled_alerts(session, case_id)
    assert (alert.status, alert.resolved_at) == ("resolved", moment + timedelta(days=31))


def test_the_alert_and_its_notice_say_what_is_wrong_with_ids_only(session, now, configure):
    configure(WORKUP_NAVIGATOR_EMAIL="nav@center.test", WORKUP_ALERT_WEBHOOK_URL="http://127.0.0.1:9/alerts")
    case_id = stalled_case(session, now, status="lost_to_follow_up")
    sweep_overdue(session, now + timedelta(hours=1))
    [row] = [row for row in list_alerts(session, unresolved_only=True) if row.alert.kind == "case_stalled"]
    expected = (
        f"Case {case_id} is lost to follow-up with no next step dated and nothing alerting: decide what happens next"
    )
    assert row.headline == expected
    assert row.as_dict()["step"] is None and row.as_dict()["case_id"] == case_id
    notices = session.exec(select(Notification).where(Notification.kind == "case_stalled_alert")).all()
    assert {notice.dedupe_key.split("|")[0] for notice in notices} == {f"alert:{row.alert.id}:level:1"}
    for notice in notices:
        message = render(session, notice)
        assert message.subject == expected
        text_sent = message.subject + message.body + repr(message.webhook_payload)
        assert "Maren" not in text_sent and "Testcase" not in text_sent and "TEST-SEED-1" not in text_sent


def test_routine_screening_is_not_a_next_step(session, now):
    """Only the annual screening, a year away, is open: the case is stalled all the same (ADR 2)."""
    case_id = stalled_case(session, now, keep_screening=True)
    assert sweep_overdue(session, now + timedelta(hours=1)).cases_stalled == 1
    assert [alert.case_id for alert in stalled_alerts(session)] == [case_id]


def test_a_closed_case_never_gets_one_and_closing_a_stalled_case_resolves_it(session, now):
    closed = open_case(session, seed_opening(mrn="CLOSED-1", facilities=[], density="b"), actor="nav", now=now).case_id
    record_event(session, closed, "magnification_result", BENIGN_MAG, actor="rad", now=now + timedelta(days=1))
    record_event(session, closed, "result_letter_sent", {"density_sentence_included": True}, actor="nav",
                 now=now + timedelta(days=2))  # fmt: skip
    stalled = stalled_case(session, now, mrn="STALL-2")
    session.execute(CATCH_UP)
    assert session.execute(text("SELECT status FROM cases WHERE id = :id"), {"id": closed}).scalar() == "closed"
    for day in (3, 30, 200):
        sweep_overdue(session, now + timedelta(days=day))
    assert [alert.case_id for alert in stalled_alerts(session)] == [stalled]
    session.execute(
        text("UPDATE cases SET status = 'closed', closed_at = :at WHERE id = :id"),
        {"id": stalled, "at": now + timedelta(days=201)},
    )
    assert sweep_overdue(session, now + timedelta(days=201)).resolved == 1
    assert [alert.status for alert in stalled_alerts(session)] == ["resolved"]


def test_an_acknowledged_alert_is_not_raised_again(session, now):
    case_id = stalled_case(session, now)
    sweep_overdue(session, now + timedelta(hours=1))
    [alert] = stalled_alerts(session, case_id)
    acknowledge_alert(
        session, alert.id, actor="nav:kim", reason="Asked the radiologist to decide", now=now + timedelta(hours=2)
    )
    for day in (1, 10, 40):
        assert sweep_overdue(session, now + timedelta(days=day)).cases_stalled == 0
    [alert] = stalled_alerts(session, case_id)
    assert (alert.status, alert.acknowledged_by) == ("acknowledged", "nav:kim")


def test_another_alert_on_the_case_is_enough_until_its_cause_is_gone(session, now):
    """A failed run request alerts the case already; once it has run, the stall is raised in the same sweep."""
    case_id = stalled_case(session, now)
    session.execute(
        text(
            "UPDATE case_runs SET status = 'failed', attempts = 5, failures = 5, finished_at = :at WHERE case_id = :id"
        ),
        {"id": case_id, "at": now},
    )
    report = sweep_overdue(session, now + timedelta(hours=1))
    assert (report.runs_stalled, report.cases_stalled) == (1, 0)
    session.execute(text("UPDATE case_runs SET status = 'done' WHERE case_id = :id"), {"id": case_id})
    report = sweep_overdue(session, now + timedelta(hours=2))
    assert (report.resolved, report.cases_stalled) == (1, 1)
    kinds = session.execute(text("SELECT kind, status FROM alerts WHERE case_id = :id ORDER BY id"), {"id": case_id})
    assert kinds.all() == [("run_stalled", "resolved"), ("case_stalled", "open")]


def test_concurrent_sweeps_raise_one_stalled_alert_per_case(committed, now, configure):
    configure(WORKUP_NAVIGATOR_EMAIL="nav@center.test")
    with Session(committed) as session:
        cases = [stalled_case(session, now, mrn=f"STALL-RACE-{number}") for number in range(12)]
        session.commit()
    assert sweep_concurrently(committed, [now + timedelta(hours=hours) for hours in (1, 1, 1, 2)]) == []
    with committed.connect() as connection:
        per_case = connection.execute(
            text(
                "SELECT case_id, count(*) FROM alerts WHERE kind = 'case_stalled' AND status <> 'resolved' GROUP BY case_id"
            )
        ).all()
        notices = connection.execute(
            text("SELECT alert_id, count(*) FROM notifications WHERE kind = 'case_stalled_alert' GROUP BY alert_id")
        ).all()
    assert sorted(case_id for case_id, _ in per_case) == sorted(cases)
    assert all(count == 1 for _, count in per_case)
    assert len(notices) == len(cases) and all(count == 1 for _, count in notices)
