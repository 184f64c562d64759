"""sweep_overdue_steps, set-based: one SQL statement over all open steps, never one run per case.

Open steps are the pending and scheduled steps of open and lost cases, and the handed-off routine
screening of closed cases: screening stays tracked after the diagnostic case closes, so a
handed-off step past its due time is overdue like any other until it is completed or cancelled.

Idempotent: the same `now` twice changes nothing. Concurrent sweeps are safe because the partial
unique index allows one unresolved alert per step (inserts use ON CONFLICT DO NOTHING), and an
escalation re-checks the alert's level under its row lock, so each level is notified once.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlmodel import Session

from tracking.alerts.stalled_cases import sweep_stalled_cases
from tracking.alerts.stuck_work import sweep_stuck_work
from tracking.alerts.unsent_letters import sweep_unsent_letters
from tracking.hl7.retention import prune_messages
from tracking.notify import recipients
from tracking.notify.outbox import insert_from
from tracking.pathway.definition import Pathway, all_pathways
from tracking.settings import Settings, get_settings


@dataclass
class SweepReport:
    resolved: int = 0
    reopened: int = 0
    raised: int = 0
    escalated: int = 0
    notifications: int = 0
    delivery_failed: int = 0  # new alerts: a notification was dead-lettered
    runs_stalled: int = 0  # new alerts: a case's run request failed or waited too long
    cases_stalled: int = 0  # new alerts: an open or lost case with nothing next and nothing alerting
    hl7_pruned: int = 0  # HL7 messages past WORKUP_HL7_RETENTION_DAYS deleted (tracking/hl7/retention.py)
    letters_unsent: int = 0  # new alerts: a produced letter not marked sent by its deadline

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


SWEEP_WORK_MEM = "32MB"

RULES = """
    rules AS (
        SELECT * FROM jsonb_to_recordset(CAST(:rules AS jsonb))
            AS r(pathway_name text, pathway_version int, level_2 int, level_3 int)
    )"""

RECIPIENTS = """
    recipients AS (
        SELECT * FROM jsonb_to_recordset(CAST(:recipients AS jsonb)) AS p(level int, channel text, address text)
    )"""

LEVEL = """
    CASE WHEN CAST(:now AS timestamptz) - s.due_at >= make_interval(days => r.level_3) THEN 3
         WHEN CAST(:now AS timestamptz) - s.due_at >= make_interval(days => r.level_2) THEN 2
         ELSE 1 END"""


# One statement, one snapshot. `open_due` is every overdue open step of an active case and every
# overdue handed-off step of a closed case (each read through its own partial index on
# steps.due_at); `current` is every unresolved alert. An alert whose step is not in `open_due` is
# resolved (due times never move, so an open step that once was overdue still is; a handed-off
# step leaves once completed or cancelled); a step in `open_due` without an alert gets one; an
# alert whose step is later than its level allows is escalated unless snoozed, and a snooze that
# has ended re-opens it.
SWEEP = text(
    f"""
    WITH {RULES}, {RECIPIENTS},
    overdue_steps AS MATERIALIZED (
        SELECT id, case_id, kind, due_at, false AS handed_off FROM steps
        WHERE status IN ('pending', 'scheduled') AND due_at < CAST(:now AS timestamptz)
        UNION ALL
        SELECT id, case_id, kind, due_at, true FROM steps
        WHERE status = 'handed_off' AND due_at < CAST(:now AS timestamptz)
    ),
    open_due AS MATERIALIZED (
        SELECT s.id AS step_id, s.case_id, s.kind AS step_kind, s.due_at, {LEVEL} AS level
        FROM overdue_steps s
        JOIN cases c ON c.id = s.case_id
        JOIN rules r ON r.pathway_name = c.pathway_name AND r.pathway_version = c.pathway_version
        WHERE CASE WHEN s.handed_off THEN c.status = 'closed' ELSE c.status IN ('open', 'lost_to_follow_up') END
    ),
    current AS MATERIALIZED (
        SELECT id, step_id, level, status, snoozed_until FROM alerts
        WHERE status <> 'resolved' AND kind = 'overdue_step'
    ),
    resolved AS (
        UPDATE alerts a SET status = 'resolved', resolved_at = CAST(:now AS timestamptz)
        FROM current cur
        WHERE a.id = cur.id AND NOT EXISTS (SELECT 1 FROM open_due o WHERE o.step_id = cur.step_id)
        RETURNING a.id
    ),
    raised AS (
        INSERT INTO alerts AS a (kind, step_id, case_id, level, status, raised_at)
        SELECT 'overdue_step', o.step_id, o.case_id, o.level, 'open', CAST(:now AS timestamptz)
        FROM open_due o
        WHERE NOT EXISTS (SELECT 1 FROM current cur WHERE cur.step_id = o.step_id)
        ON CONFLICT (step_id) WHERE status <> 'resolved' DO NOTHING
        RETURNING a.id, a.step_id, a.case_id, a.level
    ),
    changing AS (
        SELECT cur.id, o.step_kind, o.due_at,
               CASE WHEN cur.snoozed_until > CAST(:now AS timestamptz) THEN cur.level
                    ELSE greatest(cur.level, o.level) END AS level,
               cur.status = 'acknowledged' AND cur.snoozed_until <= CAST(:now AS timestamptz) AS snooze_over
        FROM current cur JOIN open_due o ON o.step_id = cur.step_id
    ),
    updated AS (
        UPDATE alerts a
        SET level = ch.level,
            status = CASE WHEN ch.level > a.level OR ch.snooze_over THEN 'open' ELSE a.status END,
            escalated_at = CASE WHEN ch.level > a.level THEN CAST(:now AS timestamptz) ELSE a.escalated_at END,
            snoozed_until = CASE WHEN ch.level > a.level OR ch.snooze_over THEN NULL ELSE a.snoozed_until END
        FROM changing ch
        WHERE a.id = ch.id AND a.status <> 'resolved' AND (ch.level > a.level OR ch.snooze_over)
        RETURNING a.id, a.step_id, a.case_id, a.level, ch.step_kind, ch.due_at,
                  a.escalated_at = CAST(:now AS timestamptz) AS escalated
    ),
    notify_rows AS (
        SELECT x.id, x.step_id, x.case_id, x.level, o.step_kind, o.due_at, 'overdue_alert' AS kind
        FROM raised x JOIN open_due o USING (step_id)
        UNION ALL
        SELECT id, step_id, case_id, level, step_kind, due_at, 'alert_escalated' FROM updated WHERE escalated
    ),
    messages AS (
        SELECT x.kind, p.channel, p.address, x.case_id, x.step_id, x.id AS alert_id, CAST(NULL AS int) AS facility_id,
               jsonb_build_object('level', x.level, 'step', x.step_kind, 'due_at', x.due_at) AS payload,
               'alert:' || x.id || ':level:' || x.level AS key
        FROM notify_rows x JOIN recipients p ON p.level = x.level
    ),
    notified AS ({insert_from("messages")}
    )
    SELECT (SELECT count(*) FROM resolved), (SELECT count(*) FROM updated WHERE NOT escalated),
           (SELECT count(*) FROM raised), (SELECT count(*) FROM updated WHERE escalated),
           (SELECT count(*) FROM notified)
    """
)


def escalation_rules(pathways: list[Pathway]) -> str:
    return json.dumps(
        [
            {
                "pathway_name": pathway.name,
                "pathway_version": pathway.version,
                "level_2": pathway.escalation.level_2_after_days,
                "level_3": pathway.escalation.level_3_after_days,
            }
            for pathway in pathways
        ]
    )


def alert_recipients(settings: Settings) -> str:
    rows = []
    for level in (1, 2, 3):
        rows += recipients.as_rows(recipients.for_alert_level(level, settings), level=level)
    return json.dumps(rows)


def sweep_overdue(
    session: Session, now: datetime, *, pathways: list[Pathway] | None = None, settings: Settings | None = None
) -> SweepReport:
    """Resolve, re-open after snooze, raise and escalate alerts as of `now`, in the caller's transaction.

    Then raises and resolves the alerts about stuck outside work (tracking/alerts/stuck_work.py)
    and about letters produced but not sent (tracking/alerts/unsent_letters.py), and last the
    alerts on cases with nothing next (tracking/alerts/stalled_cases.py), which count what the
    statements before it left unresolved. Last, HL7 messages past their retention go.
    """
    settings = settings or get_settings()
    pathways = pathways if pathways is not None else all_pathways()
    params = {
        "now": now,
        "rules": escalation_rules(pathways),
        "recipients": alert_recipients(settings),
    }
    # Room to hash the overdue set and the unresolved alerts in memory instead of sorting them on disk
    # (ADR 6); and no JIT: at 100k cases the planner's estimates for these statements can pass
    # jit_above_cost, and compiling took about 2 s, ten times the work itself. SET LOCAL ends with
    # the caller's transaction.
    session.execute(text(f"SET LOCAL work_mem = '{SWEEP_WORK_MEM}'"))
    session.execute(text("SET LOCAL jit = off"))
    resolved, reopened, raised, escalated, notifications = session.execute(SWEEP, params).one()
    stuck = sweep_stuck_work(session, now, settings=settings)
    unsent = sweep_unsent_letters(session, now, settings=settings)
    stalled = sweep_stalled_cases(session, now, pathways=pathways, settings=settings)
    pruned = prune_messages(session, now, settings=settings)
    return SweepReport(
        resolved=resolved + stuck.resolved + unsent.resolved + stalled.resolved,
        reopened=reopened,
        raised=raised,
        escalated=escalated,
        notifications=notifications + stuck.notifications + unsent.notifications + stalled.notifications,
        delivery_failed=stuck.delivery_failed,
        runs_stalled=stuck.runs_stalled,
        cases_stalled=stalled.raised,
        hl7_pruned=pruned,
        letters_unsent=unsent.raised,
    )
