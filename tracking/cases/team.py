"""The team summary: for each navigator (and nobody), how many cases and what needs doing today.

Counts only: no patient is named, so the view's audit row holds no case ids.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlmodel import Session, col, select

from tracking.cases.patient_worklist import end_of_today
from tracking.users.models import User
from tracking.users.roles import Role

_COUNTS = text("""
WITH alerting AS (
    SELECT case_id, count(*) AS alerts FROM alerts WHERE status = 'open' GROUP BY case_id
), tasks AS (
    SELECT case_id, count(*) AS due FROM navigator_tasks WHERE status = 'open' AND due_at < :today_end GROUP BY case_id
)
SELECT u.username, u.display_name,
       count(*) FILTER (WHERE c.status = 'open') AS open_cases,
       count(*) FILTER (WHERE c.status = 'lost_to_follow_up') AS lost_cases,
       count(*) FILTER (WHERE c.next_step_due_at < :now) AS overdue_cases,
       coalesce(sum(alerting.alerts), 0) AS unacknowledged_alerts,
       coalesce(sum(tasks.due), 0) AS tasks_due
FROM cases c
LEFT JOIN users u ON u.id = c.navigator_id
LEFT JOIN alerting ON alerting.case_id = c.id
LEFT JOIN tasks ON tasks.case_id = c.id
WHERE c.status IN ('open', 'lost_to_follow_up')
GROUP BY u.username, u.display_name
""")


@dataclass(frozen=True)
class TeamRow:
    username: str | None  # None: cases nobody is assigned to
    name: str
    open_cases: int = 0
    lost_cases: int = 0
    overdue_cases: int = 0  # cases with an open step past its due time
    unacknowledged_alerts: int = 0
    tasks_due: int = 0  # open tasks due today or overdue


def team_summary(session: Session, now: datetime) -> list[TeamRow]:
    """Every active navigator (with or without cases), anyone else holding cases, then "Unassigned"."""
    found = session.execute(_COUNTS, {"now": now, "today_end": end_of_today(now)}).mappings().all()
    counted = {
        values["username"]: TeamRow(
            username=values["username"],
            name=values["display_name"] or "Unassigned",
            open_cases=values["open_cases"],
            lost_cases=values["lost_cases"],
            overdue_cases=values["overdue_cases"],
            unacknowledged_alerts=int(values["unacknowledged_alerts"]),
            tasks_due=int(values["tasks_due"]),
        )
        for values in found
    }
    navigators = session.exec(select(User.username, User.display_name)
                              .where(User.role == Role.navigator, col(User.disabled_at).is_(None))).all()  # fmt: skip
    for username, name in navigators:
        counted.setdefault(username, TeamRow(username=username, name=name))
    people = sorted((row for key, row in counted.items() if key is not None), key=lambda row: row.name.lower())
    return [*people, counted.get(None, TeamRow(username=None, name="Unassigned"))]
