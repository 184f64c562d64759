"""No silent stall, by check: a case with nothing next gets a `case_stalled` alert.

A case is stalled when it is open or lost to follow-up, has no open workup step (none pending or
scheduled, routine screening aside), no open navigator task that is not yet past due
(tracking/navigation/tasks.py) and no other unresolved alert of any kind, whatever the cause.
Routine screening (`role: screening` in the pathway files) is not a next step: a case
cannot hide behind a screening due date a year away (ADR 2). The alert resolves once the case
has an open workup step or a task not yet due again, or is no longer open or lost (closed).

Set-based, one statement. The sweep runs it after the overdue and stuck-work statements, so
"no other alert" sees what they have just raised and resolved. One unresolved alert per case by
the partial unique index `uq_alerts_one_unresolved_stalled_case_per_case` (ON CONFLICT DO
NOTHING, so concurrent sweeps are safe); the same `now` twice changes nothing. An acknowledged
alert stays unresolved, so it is never raised again while the case stays stalled. Navigators are
told once per alert and level (the outbox's dedupe key).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlmodel import Session

from tracking.alerts.sweep_window import SweepWindow
from tracking.notify import recipients
from tracking.notify.outbox import insert_from
from tracking.pathway.definition import Pathway, all_pathways
from tracking.settings import Settings, get_settings

# Which cases the statement reads. A full pass: every open or lost case. An incremental pass (ADR 12):
# the cases with a change since the last sweep (:case_ids, claimed from the change log), the cases
# whose alerts were resolved by this sweep's earlier statements (their rows are in the change log
# now, left for the next sweep to claim too), and the cases with an open task whose due time passed
# in [since, now). A case's stall can change in no other way: steps, the case, its tasks and its
# alerts change only through rows the log's triggers see, and a task stops counting only when due.
ALL_CASES = """
    looked_at AS MATERIALIZED (
        SELECT c.id AS case_id, c.status FROM cases c WHERE c.status IN ('open', 'lost_to_follow_up')
    )"""
CHANGED_CASES = """
    changed AS (
        SELECT unnest(CAST(:case_ids AS int[])) AS case_id
        UNION
        SELECT case_id FROM sweep_changes
        UNION
        SELECT case_id FROM navigator_tasks
        WHERE status = 'open' AND due_at >= CAST(:since AS timestamptz) AND due_at < CAST(:now AS timestamptz)
    ),
    looked_at AS MATERIALIZED (
        SELECT c.id AS case_id, c.status FROM changed k JOIN cases c ON c.id = k.case_id
        WHERE c.status IN ('open', 'lost_to_follow_up')
    )"""
CHANGED_ALERTS = """
          AND a.case_id IN (SELECT case_id FROM changed)"""


def stalled_statement(cases: str, alerts: str = ""):
    return text(
        f"""
    WITH people AS (SELECT * FROM jsonb_to_recordset(CAST(:people AS jsonb)) AS p(channel text, address text)),
    {cases},
    nothing_next AS MATERIALIZED (
        SELECT c.case_id, c.status FROM looked_at c
        WHERE NOT EXISTS (
              SELECT 1 FROM steps s
              WHERE s.case_id = c.case_id AND s.status IN ('pending', 'scheduled')
                AND s.kind <> ALL(CAST(:screening_kinds AS text[]))
          )
          AND NOT EXISTS (
              SELECT 1 FROM navigator_tasks t
              WHERE t.case_id = c.case_id AND t.status = 'open' AND t.due_at >= CAST(:now AS timestamptz)
          )
    ),
    resolved AS (
        UPDATE alerts a SET status = 'resolved', resolved_at = CAST(:now AS timestamptz)
        WHERE a.kind = 'case_stalled' AND a.status <> 'resolved'{alerts}
          AND NOT EXISTS (SELECT 1 FROM nothing_next n WHERE n.case_id = a.case_id)
        RETURNING a.id
    ),
    raised AS (
        INSERT INTO alerts AS a (kind, case_id, level, status, raised_at)
        SELECT 'case_stalled', n.case_id, 1, 'open', CAST(:now AS timestamptz) FROM nothing_next n
        WHERE NOT EXISTS (SELECT 1 FROM alerts x WHERE x.case_id = n.case_id AND x.status <> 'resolved')
        ON CONFLICT (case_id) WHERE kind = 'case_stalled' AND status <> 'resolved' DO NOTHING
        RETURNING a.id, a.case_id, a.level
    ),
    messages AS (
        SELECT 'case_stalled_alert' AS kind, p.channel, p.address, r.case_id, CAST(NULL AS int) AS step_id,
               r.id AS alert_id, CAST(NULL AS int) AS facility_id,
               jsonb_build_object('case_status', n.status, 'level', r.level) AS payload,
               'alert:' || r.id || ':level:' || r.level AS key
        FROM raised r JOIN nothing_next n ON n.case_id = r.case_id
        CROSS JOIN people p
    ),
    notified AS ({insert_from("messages")}
    )
    SELECT (SELECT count(*) FROM raised), (SELECT count(*) FROM resolved), (SELECT count(*) FROM notified)
    """
    )


STALLED = stalled_statement(ALL_CASES)
STALLED_CHANGED = stalled_statement(CHANGED_CASES, CHANGED_ALERTS)


@dataclass
class StalledReport:
    raised: int = 0
    resolved: int = 0
    notifications: int = 0


def screening_kinds(pathways: list[Pathway]) -> list[str]:
    """The step kinds any pathway calls routine screening (`role: screening`).

    One list for every case rather than one per pathway version: the open steps are filtered as
    they are read (through ix_steps_open_due) instead of joined to each case's pathway, which
    measured about a third cheaper at 100k cases. Should a kind be screening in one pathway and
    workup in another, a case of the second with only that step open would be alerted: a false
    alarm, never a silent stall.
    """
    return sorted({kind for pathway in pathways for kind in pathway.steps if pathway.is_screening(kind)})


def sweep_stalled_cases(
    session: Session,
    now: datetime,
    *,
    pathways: list[Pathway] | None = None,
    settings: Settings | None = None,
    window: SweepWindow | None = None,
) -> StalledReport:
    """Raise and resolve case_stalled alerts as of `now`, in the caller's transaction: on every open or
    lost case, or (an incremental `window`) on the cases that can have changed since the last sweep."""
    settings = settings or get_settings()
    params = {
        "now": now,
        "screening_kinds": screening_kinds(pathways if pathways is not None else all_pathways()),
        "people": recipients.as_json(recipients.navigators(settings)),
    }
    if window is None or window.full:
        return StalledReport(*session.execute(STALLED, params).one())
    params |= {"since": window.since, "case_ids": window.case_ids}
    return StalledReport(*session.execute(STALLED_CHANGED, params).one())
