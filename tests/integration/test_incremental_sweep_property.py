"""Property (issue 14): the incremental sweep and a full recompute agree, whatever happened in between.

Random histories on real PostgreSQL, through the production services: cases opened, events recorded
from each case's own pathway (results that create follow-ups, bookings, completions, cancellations,
missed appointments, closures, losses to follow-up; valid and refused), the reminder jobs, alerts
acknowledged and snoozed, navigator tasks added and closed, notifications delivered or
dead-lettered, run requests finished or left waiting, steps cancelled or re-dated by hand in SQL, and a clock that moves hours, days, jumps past
several escalation thresholds at once, and sometimes moves backwards.

Before each sweep the state is copied by a SAVEPOINT: a full pass (`full=True`) runs there, its
alerts and their notifications are read, and it is rolled back; then the ordinary sweep runs (a
full pass only when it must: the first, or after the clock went back). Both must leave the same
alerts (kind, case, step, level, status, moments, snooze, next escalation) and queue the same
notifications, each alert's level notified once, and report the same counts. The walk machinery
(openings, drawn events, retries) is tests/integration/test_no_silent_stall_property.py's.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from datetime import timedelta
from typing import Any

from hypothesis import event, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from tests.conftest import rolled_back_session
from tests.event_strategies import chance
from tests.integration.test_no_silent_stall_property import WALK_SETTINGS, Walk
from tests.stall_checks import finish_run_requests
from tracking.alerts.service import acknowledge_alert
from tracking.alerts.sweep import sweep_overdue
from tracking.cases.errors import WorkupError
from tracking.navigation.tasks import add_task, close_task
from tracking.settings import Settings, get_settings

EXAMPLES = 12
WALK_EVENTS = 45
COUNTS: Counter[str] = Counter()

ACTIONS = ("event",) * 6 + ("sweep",) * 4 + ("acknowledge", "acknowledge", "task", "task", "outbox", "edit", "reminders",
                                               "open")  # fmt: skip

ALERTS = text(
    """
    SELECT id, kind, case_id, step_id, notification_id, case_run_id, level, status, raised_at, escalated_at,
           acknowledged_by, snoozed_until, resolved_at, next_escalation_at
    FROM alerts ORDER BY id
    """
)
ALERT_NOTIFICATIONS = text(
    """
    SELECT kind, channel, recipient, case_id, step_id, alert_id, facility_id, payload, dedupe_key, status
    FROM notifications WHERE alert_id IS NOT NULL ORDER BY id
    """
)


def clock_moves() -> st.SearchStrategy[timedelta]:
    """Hours, days or a jump past several escalation thresholds; about one move in fifteen goes back."""
    forward = st.one_of(
        st.integers(0, 48).map(lambda hours: timedelta(hours=hours)),
        st.integers(1, 10).map(lambda days: timedelta(days=days)),
        st.integers(14, 120).map(lambda days: timedelta(days=days)),
    )
    back = st.integers(1, 20 * 24).map(lambda hours: -timedelta(hours=hours))
    return st.tuples(chance(15), forward, back).map(lambda drawn: drawn[2] if drawn[0] else drawn[1])


STEPS = st.tuples(clock_moves(), st.sampled_from(ACTIONS), st.integers(0, 1000), chance(4))


def state(session) -> tuple[list[tuple], list[tuple]]:
    """The alerts and the notifications about them, with alert ids replaced by what identifies the
    alert (ids come from a sequence a rolled-back pass also advanced)."""
    alerts = session.execute(ALERTS).all()
    names: dict[int, str] = {}
    seen: Counter[tuple] = Counter()
    for row in alerts:
        identity = (row.kind, row.case_id, row.step_id, row.notification_id, row.case_run_id, row.raised_at)
        seen[identity] += 1
        names[row.id] = f"{identity}#{seen[identity]}"
    described = sorted(
        (
            names[row.id],
            row.level,
            row.status,
            str(row.escalated_at),
            str(row.acknowledged_by),
            str(row.snoozed_until),
            str(row.resolved_at),
            str(row.next_escalation_at),
        )  # fmt: skip
        for row in alerts
    )

    def named(key: str) -> str:
        return re.sub(r"alert:(\d+)", lambda found: f"alert:{names[int(found.group(1))]}", key)

    notifications = sorted(
        (
            row.kind,
            row.channel,
            row.recipient,
            row.case_id,
            row.step_id,
            names[row.alert_id],
            row.facility_id,
            str(sorted(row.payload.items())),
            named(row.dedupe_key),
            row.status,
        )  # fmt: skip
        for row in session.execute(ALERT_NOTIFICATIONS).all()
    )
    return described, notifications


def once_per_level(notifications: list[tuple]) -> None:
    """No alert is told twice about one level (or one raising) to one recipient."""
    told = Counter(
        (alert, recipient, key.split("|")[0]) for _, _, recipient, _, _, alert, _, _, key, _ in notifications
    )
    assert all(count == 1 for count in told.values()), [item for item, count in told.items() if count > 1]


class SweepWalk(Walk):
    """A walk whose sweeps are checked against a full recompute on a copy of the same state."""

    def check(self, after: str) -> None:  # the invariant is the other property's; this one compares sweeps
        pass

    def sweep(self) -> None:
        if self.draw(st.booleans(), "runner caught up"):
            finish_run_requests(self.session, self.clock, self.settings)
        savepoint = self.session.begin_nested()
        try:
            full = sweep_overdue(self.session, self.clock, settings=self.settings, full=True).as_dict()
            expected = state(self.session)
        finally:
            savepoint.rollback()
        report = sweep_overdue(self.session, self.clock, settings=self.settings).as_dict()
        actual = state(self.session)
        kind = "full" if report.pop("full_pass") else "incremental"
        full.pop("full_pass")
        COUNTS[f"{kind} sweeps"] += 1
        if kind == "incremental" and any(report.values()):
            COUNTS["incremental sweeps that changed something"] += 1
        event(f"{kind} sweep")
        self.say(f"{kind} sweep: {report}")
        assert actual[0] == expected[0], self.difference("alerts", expected[0], actual[0])
        assert actual[1] == expected[1], self.difference("notifications", expected[1], actual[1])
        assert report == full, f"reports differ: full {full}, {kind} {report}"
        once_per_level(actual[1])

    def difference(self, what: str, expected: list, actual: list) -> str:
        missing = [row for row in expected if row not in actual]
        extra = [row for row in actual if row not in expected]
        return f"{what} after the incremental sweep at {self.clock}: missing {missing}, extra {extra}"

    def acknowledge(self, index: int, snooze: bool) -> None:
        alerts = self.session.execute(text("SELECT id FROM alerts WHERE status <> 'resolved' ORDER BY id")).all()
        if not alerts:
            return
        alert_id = alerts[index % len(alerts)].id
        until = self.clock + self.draw(st.integers(1, 40 * 24).map(lambda hours: timedelta(hours=hours)), "snooze")
        acknowledge_alert(
            self.session, alert_id, actor="nav:property", reason="Called the patient", now=self.clock,
            snooze_until=until if snooze else None,
        )  # fmt: skip
        COUNTS["snoozes" if snooze else "acknowledgements"] += 1
        self.say(f"acknowledge alert {alert_id}" + (f" snoozed until {until}" if snooze else ""))

    def task(self, index: int, close: bool) -> None:
        """Add a task to an open case, due within a month; or close an open one."""
        if close:
            tasks = self.session.execute(text("SELECT id FROM navigator_tasks WHERE status = 'open' ORDER BY id")).all()
            if tasks:
                task_id = tasks[index % len(tasks)].id
                close_task(self.session, task_id, done=True, actor="nav:property", now=self.clock)
                self.say(f"task {task_id} done")
            return
        cases = self.session.execute(
            text("SELECT id FROM cases WHERE id = ANY(:ids) AND status <> 'closed' ORDER BY id"),
            {"ids": list(self.labels)},
        ).all()
        if cases:
            case_id = cases[index % len(cases)].id
            due = self.clock + timedelta(hours=self.draw(st.integers(0, 30 * 24), "task due"))
            savepoint = self.session.begin_nested()
            try:
                add_task(self.session, case_id, "Call back", due, actor="nav:property", now=self.clock)
                savepoint.commit()
            except WorkupError:
                savepoint.rollback()
                return
            COUNTS["tasks"] += 1
            self.say(f"task on {self.labels[case_id]} due {due}")

    def outbox(self, index: int, dead: bool) -> None:
        """Deliver what is pending, or dead-letter one pending message."""
        if dead:
            self.session.execute(
                text(
                    "UPDATE notifications SET status = 'dead', attempts = attempts + 1, failures = failures + 1 "
                    "WHERE id = (SELECT id FROM notifications WHERE status = 'pending' ORDER BY id "
                    "OFFSET :skip % greatest(1, (SELECT count(*) FROM notifications WHERE status = 'pending')) LIMIT 1)"
                ),
                {"skip": index},
            )
            self.say("a message dead-lettered")
        else:
            self.session.execute(
                text(
                    "UPDATE notifications SET status = 'delivered', delivered_at = :now WHERE status IN ('pending', 'dead')"
                ),
                {"now": self.clock},
            )
            self.say("the outbox delivered everything")

    def edit(self, index: int, stall: bool) -> None:
        """An edit by hand in SQL, as a restore or a bug might leave: every open step of a case cancelled
        (the case then has nothing next), or one open step's due time moved earlier."""
        cases = sorted(self.labels)
        case_id = cases[index % len(cases)]
        if stall:
            self.session.execute(
                text(
                    "UPDATE steps SET status = 'cancelled' WHERE case_id = :id AND status IN ('pending', 'scheduled')"
                ),
                {"id": case_id},
            )
            COUNTS["cases left with nothing next"] += 1
            self.say(f"by hand: every open step of {self.labels[case_id]} cancelled")
            return
        days = self.draw(st.integers(1, 60), "days earlier")
        self.session.execute(
            text(
                "UPDATE steps SET due_at = due_at - make_interval(days => :days) WHERE id = (SELECT id FROM steps "
                "WHERE case_id = :id AND status IN ('pending', 'scheduled') ORDER BY id LIMIT 1)"
            ),
            {"id": case_id, "days": days},
        )
        self.say(f"by hand: an open step of {self.labels[case_id]} due {days} days earlier")

    def run(self) -> None:
        wanted = self.draw(st.integers(1, 3), "cases")
        self.say(f"walk, navigators {'on' if self.settings.navigator_email else 'off'}")
        while not self.labels:
            self.open()
            if not self.labels:
                self.clock += timedelta(hours=1)
        while self.walk_events < WALK_EVENTS:
            move, action, index, flag = self.draw(STEPS, "step")
            self.clock += move
            if move < timedelta(0):
                COUNTS["clock moved back"] += 1
                self.say(f"the clock moves back {-move}")
            if action == "event":
                self.record_drawn_event(index, flag)
            elif action == "sweep":
                self.sweep()
            elif action == "acknowledge":
                self.acknowledge(index, flag)
            elif action == "task":
                self.task(index, flag)
            elif action == "outbox":
                self.outbox(index, flag)
            elif action == "edit":
                self.edit(index, flag)
            elif action == "reminders":
                self.reminders()
            elif len(self.labels) < wanted:
                self.open()
        self.clock += timedelta(days=1)
        self.sweep()
        COUNTS["walks"] += 1


def sweep_settings(data: st.DataObject) -> Settings:
    """Alert recipients at every level (so notifications are compared too), sometimes none; patient
    messaging on or off; never a periodic full pass, so every sweep after the first is incremental
    unless the clock went back."""
    navigators, messaging = data.draw(st.tuples(st.booleans(), st.booleans()), label="navigators, patient messaging")
    return get_settings().model_copy(
        update={
            "navigator_email": "nav@center.test" if navigators else None,
            "escalation_email": "lead@center.test" if navigators else None,
            "alert_webhook_url": "http://127.0.0.1:9/alerts" if navigators else None,
            "patient_messaging_webhook_url": "http://127.0.0.1:9/patient-messages" if messaging else None,
            "sweep_full_every_hours": 24 * 366,
        }
    )


def explore(engine, **overrides: Any) -> None:
    @settings(**{**WALK_SETTINGS, "max_examples": EXAMPLES, **overrides})
    @given(data=st.data())
    def walk(data):
        with rolled_back_session(engine) as session:
            SweepWalk(session, data, sweep_settings(data), noisy=data.draw(chance(3), label="noisy")).run()

    walk()


def test_incremental_sweep_agrees_with_a_full_recompute(engine):
    COUNTS.clear()
    explore(engine)
    assert COUNTS["walks"] == EXAMPLES, dict(COUNTS)
    assert COUNTS["incremental sweeps"] >= math.ceil(EXAMPLES * 4), dict(COUNTS)
    assert COUNTS["incremental sweeps that changed something"] >= EXAMPLES, dict(COUNTS)
    assert COUNTS["clock moved back"] >= 3 and COUNTS["snoozes"] >= 3 and COUNTS["tasks"] >= 3, dict(COUNTS)
    assert COUNTS["cases left with nothing next"] >= 3, dict(COUNTS)
