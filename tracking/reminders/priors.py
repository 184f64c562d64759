"""Ask outside facilities for prior films, then chase them on the pathway's schedule.

Set-based: one statement finds every point reached by every open request (point 0 is the first
request, points 1.. the chases), queues one message per point (a dedupe key per point makes a
second run a no-op), and counts the chases. Facilities reached by email or webhook are sent to;
the others become navigator tasks (recipients.AUTOMATIC_FACILITY_CHANNELS decides which).
The first request is queued in the transaction that opened the case (tracking/runs/outside_work.py)
through the same statement, limited to that case.
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
from tracking.pathway.vocabulary import StepKind
from tracking.settings import Settings, get_settings


@dataclass
class ChaseReport:
    chases: int = 0  # messages queued: first requests not yet queued, chases, navigator tasks
    requests_chased: int = 0
    escalations: int = 0
    chased_case_ids: list[int] = field(default_factory=list)
    escalated_case_ids: list[int] = field(default_factory=list)


COMMON = """
    rules AS (
        SELECT * FROM jsonb_to_recordset(CAST(:rules AS jsonb))
            AS r(pathway_name text, pathway_version int, chase_days int[], escalate_day int)
    ),
    people AS (SELECT * FROM jsonb_to_recordset(CAST(:people AS jsonb)) AS n(channel text, address text)),
    open_requests AS (
        SELECT q.id AS request_id, q.case_id, q.step_id, q.facility_id, q.requested_at, f.name AS facility,
               f.channel AS facility_channel, f.contact, r.chase_days, r.escalate_day
        FROM prior_film_requests q
        JOIN cases c ON c.id = q.case_id
        JOIN outside_facilities f ON f.id = q.facility_id
        JOIN rules r ON r.pathway_name = c.pathway_name AND r.pathway_version = c.pathway_version
        WHERE q.status = 'requested' AND c.status IN ('open', 'lost_to_follow_up')
          AND (CAST(:case_id AS int) IS NULL OR q.case_id = CAST(:case_id AS int))
    )"""

CHASE = text(
    f"""
    WITH {COMMON},
    points AS (
        SELECT o.*, d.day, d.n - 1 AS n, o.facility_channel = ANY(CAST(:automatic_channels AS text[])) AS automatic
        FROM open_requests o
        CROSS JOIN LATERAL unnest(ARRAY[0] || o.chase_days) WITH ORDINALITY AS d(day, n)
        WHERE o.requested_at + make_interval(days => d.day) <= CAST(:now AS timestamptz)
          AND (d.n = 1 OR NOT CAST(:first_only AS boolean))
    ),
    messages AS (
        SELECT CASE WHEN NOT p.automatic THEN 'prior_film_manual'
                    WHEN p.n = 0 THEN 'prior_film_request' ELSE 'prior_film_chase' END AS kind,
               CASE WHEN p.automatic THEN p.facility_channel ELSE n.channel END AS channel,
               CASE WHEN p.automatic THEN p.contact ELSE n.address END AS address,
               p.case_id, p.step_id, CAST(NULL AS int) AS alert_id, p.facility_id,
               jsonb_build_object('facility', p.facility, 'channel', p.facility_channel,
                                  'reference', 'BW-' || p.case_id || '-' || p.facility_id)
               || CASE WHEN p.n = 0 THEN jsonb_build_object('purpose', 'first request')
                       ELSE jsonb_build_object('attempt', p.n, 'purpose', 'chase ' || p.n) END AS payload,
               'priors:' || p.request_id || CASE WHEN p.n = 0 THEN '\\:request' ELSE ':chase:' || p.n END AS key
        FROM points p
        LEFT JOIN people n ON NOT p.automatic
        WHERE p.automatic OR n.address IS NOT NULL
    ),
    inserted AS ({insert_from("messages")}),
    counted AS (
        UPDATE prior_film_requests q SET chase_count = x.reached, last_chased_at = CAST(:now AS timestamptz)
        FROM (SELECT request_id, max(n) AS reached FROM points GROUP BY request_id) x
        WHERE q.id = x.request_id AND q.chase_count < x.reached
        RETURNING q.case_id
    )
    SELECT (SELECT count(*) FROM inserted), (SELECT count(*) FROM counted),
           (SELECT coalesce(array_agg(DISTINCT case_id ORDER BY case_id), '{{}}')
            FROM (SELECT case_id FROM inserted UNION SELECT case_id FROM counted) acted)
    """
)

ESCALATE = text(
    f"""
    WITH {COMMON},
    messages AS (
        SELECT 'prior_film_escalation' AS kind, n.channel, n.address, o.case_id, o.step_id,
               CAST(NULL AS int) AS alert_id, o.facility_id,
               jsonb_build_object('facility', o.facility, 'days', o.escalate_day) AS payload,
               'priors:' || o.request_id || '\\:escalate' AS key
        FROM open_requests o CROSS JOIN people n
        WHERE o.escalate_day > 0
          AND o.requested_at + make_interval(days => o.escalate_day) <= CAST(:now AS timestamptz)
    ),
    inserted AS ({insert_from("messages")})
    SELECT count(*), coalesce(array_agg(DISTINCT case_id ORDER BY case_id), '{{}}') FROM inserted
    """
)


def chase_rules(pathways: list[Pathway]) -> str:
    """Every pathway's chase days and escalation day (none for a pathway that does not chase)."""
    rows = []
    for pathway in pathways:
        rule = pathway.steps.get(StepKind.prior_film_request)
        chase = rule.chase if rule else None
        rows.append(
            {
                "pathway_name": pathway.name,
                "pathway_version": pathway.version,
                "chase_days": list(chase.at_days) if chase else [],
                "escalate_day": chase.escalate_at_day if chase else 0,
            }
        )
    return json.dumps(rows)


def _params(now: datetime, rules: str, people: list[recipients.Recipient], **extra: object) -> dict:
    return {
        "now": now,
        "rules": rules,
        "people": recipients.as_json(people),
        "automatic_channels": list(recipients.AUTOMATIC_FACILITY_CHANNELS),
        "case_id": None,
        "first_only": False,
        **extra,
    }


def chase_prior_films(
    session: Session, now: datetime, *, pathways: list[Pathway] | None = None, settings: Settings | None = None
) -> ChaseReport:
    """Queue every first request, chase and escalation due by `now`, in the caller's transaction."""
    settings = settings or get_settings()
    rules = chase_rules(pathways if pathways is not None else all_pathways())
    chases, requests, chased = session.execute(CHASE, _params(now, rules, recipients.navigators(settings))).one()
    escalations, escalated = session.execute(ESCALATE, _params(now, rules, recipients.escalation(settings))).one()
    return ChaseReport(chases, requests, escalations, list(chased), list(escalated))


def request_prior_films(session: Session, case_id: int, now: datetime, *, settings: Settings | None = None) -> int:
    """Queue the first request to each facility the case is waiting on; returns how many were new."""
    settings = settings or get_settings()
    rules = chase_rules(all_pathways())
    params = _params(now, rules, recipients.navigators(settings), case_id=case_id, first_only=True)
    queued, _, _ = session.execute(CHASE, params).one()
    return queued
