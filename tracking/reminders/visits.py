"""Reminders before follow-up visits and annual screening, days before the target date.

The target is the due time less the pathway's window (a 6-month exam is due at 6 months plus the
window; the reminder counts back from 6 months). Handed-off annual screening is reminded too.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import text
from sqlmodel import Session

from tracking.notify import recipients
from tracking.notify.outbox import insert_from
from tracking.pathway.definition import Pathway, all_pathways
from tracking.settings import Settings, get_settings

REMIND = text(
    f"""
    WITH rules AS (
        SELECT * FROM jsonb_to_recordset(CAST(:rules AS jsonb))
            AS r(pathway_name text, pathway_version int, step_kind text, window_days int, days_before int[])
    ),
    people AS (SELECT * FROM jsonb_to_recordset(CAST(:people AS jsonb)) AS n(channel text, address text)),
    points AS (
        SELECT s.id AS step_id, s.case_id, s.kind, s.due_at - make_interval(days => r.window_days) AS target, d.day
        FROM steps s
        JOIN cases c ON c.id = s.case_id
        JOIN rules r ON r.pathway_name = c.pathway_name AND r.pathway_version = c.pathway_version
                    AND r.step_kind = s.kind
        CROSS JOIN LATERAL unnest(r.days_before) AS d(day)
        WHERE (s.status IN ('pending', 'scheduled') AND c.status IN ('open', 'lost_to_follow_up')
               OR s.status = 'handed_off')
          AND s.due_at - make_interval(days => r.window_days + d.day) <= CAST(:now AS timestamptz)
          AND s.due_at - make_interval(days => r.window_days) > CAST(:now AS timestamptz)
    ),
    messages AS (
        SELECT 'followup_reminder' AS kind, n.channel, n.address, p.case_id, p.step_id, CAST(NULL AS int) AS alert_id,
               CAST(NULL AS int) AS facility_id,
               jsonb_build_object('step', p.kind, 'target', to_char(p.target, 'YYYY-MM-DD'), 'days_before', p.day)
                   AS payload,
               'reminder:' || p.step_id || ':' || p.day AS key
        FROM points p CROSS JOIN people n
    ),
    inserted AS ({insert_from("messages")}
    )
    SELECT count(*), coalesce(array_agg(DISTINCT case_id ORDER BY case_id), '{{}}') FROM inserted
    """
)


@dataclass
class VisitReport:
    reminders: int = 0
    reminded_case_ids: list[int] = field(default_factory=list)


def reminder_rules(pathways: list[Pathway]) -> str:
    return json.dumps(
        [
            {
                "pathway_name": pathway.name,
                "pathway_version": pathway.version,
                "step_kind": rule.kind,
                "window_days": rule.due.window_days,
                "days_before": list(rule.remind_days_before_target),
            }
            for pathway in pathways
            for rule in pathway.steps.values()
            if rule.remind_days_before_target
        ]
    )


def remind_upcoming_visits(
    session: Session, now: datetime, *, pathways: list[Pathway] | None = None, settings: Settings | None = None
) -> VisitReport:
    """Queue each reminder whose day has come by `now`; reports the new ones."""
    found = recipients.patient_messaging(settings or get_settings())
    if not found:
        return VisitReport()
    params = {
        "now": now,
        "rules": reminder_rules(pathways if pathways is not None else all_pathways()),
        "people": recipients.as_json(found),
    }
    reminders, case_ids = session.execute(REMIND, params).one()
    return VisitReport(reminders, list(case_ids))
