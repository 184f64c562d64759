"""sweep_overdue_steps, set-based: a handful of SQL statements over all open steps, never one per case.

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

from tracking.notify import recipients
from tracking.pathway.definition import Pathway, all_pathways
from tracking.settings import Settings, get_settings


@dataclass
class SweepReport:
    resolved: int = 0
    reopened: int = 0
    raised: int = 0
    escalated: int = 0
    notifications: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


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

NOTIFY = """
    INSERT INTO notifications (kind, channel, recipient, case_id, step_id, alert_id, payload, dedupe_key, status,
                               attempts, next_attempt_at, created_at)
    SELECT :kind, p.channel, p.address, x.case_id, x.step_id, x.id,
           jsonb_build_object('level', x.level, 'step', x.step_kind, 'due_at', x.due_at),
           'alert:' || x.id || ':level:' || x.level || '|' || p.channel || ':' || p.address,
           'pending', 0, CAST(:now AS timestamptz), CAST(:now AS timestamptz)
    FROM notify_rows x JOIN recipients p ON p.level = x.level
    ON CONFLICT (dedupe_key) DO NOTHING"""

RESOLVE = text(
    """
    UPDATE alerts a SET status = 'resolved', resolved_at = CAST(:now AS timestamptz)
    FROM steps s JOIN cases c ON c.id = s.case_id
    WHERE a.step_id = s.id AND a.status <> 'resolved'
      AND (s.status NOT IN ('pending', 'scheduled') OR c.status NOT IN ('open', 'lost_to_follow_up'))
    """
)

REOPEN_AFTER_SNOOZE = text(
    """
    UPDATE alerts SET status = 'open', snoozed_until = NULL
    WHERE status = 'acknowledged' AND snoozed_until IS NOT NULL AND snoozed_until <= CAST(:now AS timestamptz)
    """
)

RAISE = text(
    f"""
    WITH {RULES}, {RECIPIENTS},
    overdue AS (
        SELECT s.id AS step_id, s.case_id, s.kind AS step_kind, s.due_at, {LEVEL} AS level
        FROM steps s
        JOIN cases c ON c.id = s.case_id
        JOIN rules r ON r.pathway_name = c.pathway_name AND r.pathway_version = c.pathway_version
        WHERE s.status IN ('pending', 'scheduled') AND s.due_at < CAST(:now AS timestamptz)
          AND c.status IN ('open', 'lost_to_follow_up')
          AND NOT EXISTS (SELECT 1 FROM alerts a WHERE a.step_id = s.id AND a.status <> 'resolved')
    ),
    changed AS (
        INSERT INTO alerts AS a (step_id, case_id, level, status, raised_at)
        SELECT step_id, case_id, level, 'open', CAST(:now AS timestamptz) FROM overdue
        ON CONFLICT (step_id) WHERE status <> 'resolved' DO NOTHING
        RETURNING a.id, a.step_id, a.case_id, a.level
    ),
    notify_rows AS (SELECT x.*, o.step_kind, o.due_at FROM changed x JOIN overdue o USING (step_id)),
    notified AS ({NOTIFY} RETURNING 1)
    SELECT (SELECT count(*) FROM changed), (SELECT count(*) FROM notified)
    """
)

ESCALATE = text(
    f"""
    WITH {RULES}, {RECIPIENTS},
    due AS (
        SELECT a.id, s.kind AS step_kind, s.due_at, {LEVEL} AS level
        FROM alerts a
        JOIN steps s ON s.id = a.step_id
        JOIN cases c ON c.id = s.case_id
        JOIN rules r ON r.pathway_name = c.pathway_name AND r.pathway_version = c.pathway_version
        WHERE a.status <> 'resolved'
          AND (a.snoozed_until IS NULL OR a.snoozed_until <= CAST(:now AS timestamptz))
    ),
    changed AS (
        UPDATE alerts a SET level = d.level, status = 'open', escalated_at = CAST(:now AS timestamptz),
                            snoozed_until = NULL
        FROM due d
        WHERE a.id = d.id AND d.level > a.level AND a.status <> 'resolved'
        RETURNING a.id, a.step_id, a.case_id, a.level, d.step_kind, d.due_at
    ),
    notify_rows AS (SELECT * FROM changed),
    notified AS ({NOTIFY} RETURNING 1)
    SELECT (SELECT count(*) FROM changed), (SELECT count(*) FROM notified)
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
    return json.dumps(
        [
            {"level": level, "channel": recipient.channel, "address": recipient.address}
            for level in (1, 2, 3)
            for recipient in recipients.for_alert_level(level, settings)
        ]
    )


def sweep_overdue(
    session: Session, now: datetime, *, pathways: list[Pathway] | None = None, settings: Settings | None = None
) -> SweepReport:
    """Resolve, re-open after snooze, raise and escalate alerts as of `now`, in the caller's transaction."""
    params = {
        "now": now,
        "rules": escalation_rules(pathways if pathways is not None else all_pathways()),
        "recipients": alert_recipients(settings or get_settings()),
    }
    report = SweepReport()
    report.resolved = session.execute(RESOLVE, params).rowcount
    report.reopened = session.execute(REOPEN_AFTER_SNOOZE, params).rowcount
    raised, raised_notes = session.execute(RAISE, {**params, "kind": "overdue_alert"}).one()
    escalated, escalated_notes = session.execute(ESCALATE, {**params, "kind": "alert_escalated"}).one()
    report.raised, report.escalated = raised, escalated
    report.notifications = raised_notes + escalated_notes
    return report
