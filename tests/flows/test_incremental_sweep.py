"""The sweep reads what can have changed since it last ran (ADR 12): when it must read everything,
and the changes only a narrow read would miss. The agreement of the two on random histories is
tests/integration/test_incremental_sweep_property.py."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from sqlalchemy import text
from sqlmodel import select

from tests.factories import seed_opening
from tests.flows.test_stalled_cases import stalled_alerts, stalled_case
from tests.flows.test_sweep import runner_caught_up
from tracking.alerts import sweep_window
from tracking.alerts.models import Alert
from tracking.alerts.sweep import sweep_overdue
from tracking.cases.opening import open_case
from tracking.navigation.tasks import add_task
from tracking.pathway.definition import all_pathways


def watermark(session):
    return session.execute(text("SELECT last_swept_at, last_full_at FROM sweep_state WHERE name = 'alerts'")).one()


def test_the_sweep_reads_everything_only_when_it_must(session, now, configure, monkeypatch):
    configure(WORKUP_SWEEP_FULL_EVERY_HOURS=24)
    open_case(session, seed_opening(mrn="WINDOW-1"), actor="nav", now=now)
    runner_caught_up(session)
    moment = now + timedelta(days=8)

    def full(at, **options) -> int:
        return sweep_overdue(session, at, **options).full_pass

    assert full(moment) == 1  # no watermark yet
    assert watermark(session) == (moment, moment)
    assert full(moment) == 0
    assert full(moment + timedelta(hours=23)) == 0
    assert full(moment + timedelta(hours=22)) == 1  # the clock is behind the watermark
    assert full(moment + timedelta(hours=23)) == 0
    assert full(moment + timedelta(hours=46)) == 1  # a day since the last full pass
    assert full(moment + timedelta(hours=47), full=True) == 1  # asked for (`workup sweep --full`)
    changed = [
        replace(pathway, escalation=replace(pathway.escalation, level_2_after_days=3)) for pathway in all_pathways()
    ]
    assert full(moment + timedelta(hours=48), pathways=changed) == 1  # the thresholds changed
    assert full(moment + timedelta(hours=49), pathways=changed) == 0
    monkeypatch.setattr(sweep_window, "MAX_CLAIMED", 2)
    session.execute(text("UPDATE steps SET due_at = due_at + interval '1 minute'"))  # more changes than that
    assert full(moment + timedelta(hours=50), pathways=changed) == 1
    assert watermark(session) == (moment + timedelta(hours=50), moment + timedelta(hours=50))
    assert session.execute(text("SELECT count(*) FROM sweep_changes")).scalar() == 0  # claimed, all of it


def test_changed_thresholds_move_every_escalation_moment_in_the_full_pass(session, now, configure):
    configure(WORKUP_SWEEP_FULL_EVERY_HOURS=24 * 30)
    case_id = open_case(session, seed_opening(mrn="WINDOW-2", facilities=[]), actor="nav", now=now).case_id
    runner_caught_up(session)
    sweep_overdue(session, now + timedelta(days=8))
    alert = session.exec(select(Alert).where(Alert.case_id == case_id, Alert.kind == "overdue_step")).one()
    due = now + timedelta(days=7)  # magnification views, 7 days after the exam
    assert (alert.level, alert.next_escalation_at) == (1, due + timedelta(days=7))
    changed = [
        replace(pathway, escalation=replace(pathway.escalation, level_2_after_days=10)) for pathway in all_pathways()
    ]
    report = sweep_overdue(session, now + timedelta(days=9), pathways=changed)
    session.refresh(alert)
    assert report.full_pass == 1 and (alert.level, alert.next_escalation_at) == (1, due + timedelta(days=10))
    report = sweep_overdue(session, now + timedelta(days=17), pathways=changed)  # 10 days late: level 2
    session.refresh(alert)
    assert report.full_pass == 0 and report.escalated == 1
    assert (alert.level, alert.next_escalation_at) == (2, due + timedelta(days=14))


def test_a_task_falling_due_is_enough_for_the_next_sweep_to_see_a_stall(session, now):
    """Nothing else changes on the case: the incremental sweep finds it by the task's due time alone."""
    case_id = stalled_case(session, now, mrn="WINDOW-3")
    add_task(session, case_id, "Call back about the biopsy date", now + timedelta(days=2), actor="nav", now=now)
    for hours in (1, 24, 47):
        report = sweep_overdue(session, now + timedelta(hours=hours))
        assert report.cases_stalled == 0, hours
    report = sweep_overdue(session, now + timedelta(hours=49))
    assert (report.full_pass, report.cases_stalled) == (0, 1)
    assert [alert.case_id for alert in stalled_alerts(session, case_id)] == [case_id]


def test_the_last_other_alert_resolving_lets_the_same_sweep_see_a_stall(session, now):
    """A run request that failed kept the case visible (a run_stalled alert, so no case_stalled one);
    once it runs, the sweep that resolves that alert raises the stall in the same pass."""
    case_id = stalled_case(session, now, mrn="WINDOW-4")
    session.execute(
        text("UPDATE case_runs SET status = 'failed', attempts = 5, failures = 5, finished_at = :now, reason = 'x' "
             "WHERE case_id = :id"),
        {"now": now, "id": case_id},
    )  # fmt: skip
    first = sweep_overdue(session, now + timedelta(hours=1))
    assert (first.runs_stalled, first.cases_stalled) == (1, 0)
    assert sweep_overdue(session, now + timedelta(hours=2)).cases_stalled == 0
    session.execute(text("UPDATE case_runs SET status = 'done', failures = 0 WHERE case_id = :id"), {"id": case_id})
    report = sweep_overdue(session, now + timedelta(hours=3))
    assert (report.full_pass, report.resolved, report.cases_stalled) == (0, 1, 1)
