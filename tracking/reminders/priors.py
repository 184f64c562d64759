"""Chase outside facilities for prior films on the pathway's schedule: one chase per due point.

Set-based: one statement finds every chase point reached by every open request, queues one
message per point (a dedupe key per point makes a second sweep a no-op), and counts the chases.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlmodel import Session

from tracking.notify import recipients
from tracking.pathway.definition import Pathway, all_pathways
from tracking.pathway.vocabulary import StepKind
from tracking.settings import Settings, get_settings


@dataclass
class ChaseReport:
    chases: int = 0
    requests_chased: int = 0
    escalations: int = 0


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
    )"""

INSERT = """
    INSERT INTO notifications (kind, channel, recipient, case_id, step_id, facility_id, payload, dedupe_key, status,
                               attempts, next_attempt_at, created_at)
    SELECT t.kind, t.channel, t.address, t.case_id, t.step_id, t.facility_id, t.payload,
           t.key || '|' || t.channel || ':' || t.address, 'pending', 0, CAST(:now AS timestamptz),
           CAST(:now AS timestamptz)
    FROM targets t
    ON CONFLICT (dedupe_key) DO NOTHING
    RETURNING 1"""

CHASE = text(
    f"""
    WITH {COMMON},
    points AS (
        SELECT o.*, d.day, d.n
        FROM open_requests o CROSS JOIN LATERAL unnest(o.chase_days) WITH ORDINALITY AS d(day, n)
        WHERE o.requested_at + make_interval(days => d.day) <= CAST(:now AS timestamptz)
    ),
    targets AS (
        SELECT CASE WHEN p.facility_channel IN ('email', 'webhook') THEN 'prior_film_chase'
                    ELSE 'prior_film_manual' END AS kind,
               CASE WHEN p.facility_channel IN ('email', 'webhook') THEN p.facility_channel ELSE n.channel END
                   AS channel,
               CASE WHEN p.facility_channel IN ('email', 'webhook') THEN p.contact ELSE n.address END AS address,
               p.case_id, p.step_id, p.facility_id,
               jsonb_build_object('attempt', p.n, 'facility', p.facility, 'channel', p.facility_channel,
                                  'purpose', 'chase ' || p.n, 'reference', 'BW-' || p.case_id || '-' || p.facility_id)
                   AS payload,
               'priors:' || p.request_id || ':chase:' || p.n AS key
        FROM points p
        LEFT JOIN people n ON p.facility_channel NOT IN ('email', 'webhook')
        WHERE p.facility_channel IN ('email', 'webhook') OR n.address IS NOT NULL
    ),
    inserted AS ({INSERT}),
    counted AS (
        UPDATE prior_film_requests q SET chase_count = x.reached, last_chased_at = CAST(:now AS timestamptz)
        FROM (SELECT request_id, max(n) AS reached FROM points GROUP BY request_id) x
        WHERE q.id = x.request_id AND q.chase_count < x.reached
        RETURNING 1
    )
    SELECT (SELECT count(*) FROM inserted), (SELECT count(*) FROM counted)
    """
)

ESCALATE = text(
    f"""
    WITH {COMMON},
    targets AS (
        SELECT 'prior_film_escalation' AS kind, n.channel, n.address, o.case_id, o.step_id, o.facility_id,
               jsonb_build_object('facility', o.facility, 'days', o.escalate_day) AS payload,
               'priors:' || o.request_id || '\\:escalate' AS key
        FROM open_requests o CROSS JOIN people n
        WHERE o.escalate_day > 0
          AND o.requested_at + make_interval(days => o.escalate_day) <= CAST(:now AS timestamptz)
    ),
    inserted AS ({INSERT})
    SELECT count(*) FROM inserted
    """
)


def chase_rules(pathways: list[Pathway]) -> str:
    rows = []
    for pathway in pathways:
        chase = pathway.steps.get(StepKind.prior_film_request) and pathway.steps[StepKind.prior_film_request].chase
        if chase:
            rows.append(
                {
                    "pathway_name": pathway.name,
                    "pathway_version": pathway.version,
                    "chase_days": list(chase.at_days),
                    "escalate_day": chase.escalate_at_day,
                }
            )
    return json.dumps(rows)


def people(found: list[recipients.Recipient]) -> str:
    return json.dumps([{"channel": person.channel, "address": person.address} for person in found])


def chase_prior_films(
    session: Session, now: datetime, *, pathways: list[Pathway] | None = None, settings: Settings | None = None
) -> ChaseReport:
    """Queue every chase and escalation due by `now`, in the caller's transaction."""
    settings = settings or get_settings()
    rules = chase_rules(pathways if pathways is not None else all_pathways())
    chases, requests = session.execute(
        CHASE, {"now": now, "rules": rules, "people": people(recipients.navigators(settings))}
    ).one()
    escalations = session.execute(
        ESCALATE, {"now": now, "rules": rules, "people": people(recipients.escalation(settings))}
    ).scalar_one()
    return ChaseReport(chases=chases, requests_chased=requests, escalations=escalations)
