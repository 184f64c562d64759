"""Alerts for outside work that is stuck: a dead-lettered notification (its receiver never got it)
and a case whose run request has failed or waited longer than WORKUP_RUN_STALLED_AFTER_MINUTES.

Set-based, one statement, run by the sweep in its transaction. Each alert resolves by itself when
its cause is gone (the notification is retried and delivered, not merely queued again; the case's
runs complete). Navigators
are told once per alert. A notification about one of these alerts never raises another alert, so a
dead navigator mailbox cannot start a chain.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlmodel import Session

from tracking.notify import recipients
from tracking.notify.outbox import insert_from
from tracking.settings import Settings, get_settings

STUCK_WORK_NOTICES = ("delivery_failed_alert", "run_stalled_alert")

STUCK = text(
    f"""
    WITH people AS (SELECT * FROM jsonb_to_recordset(CAST(:people AS jsonb)) AS p(channel text, address text)),
    dead AS MATERIALIZED (
        SELECT n.id, n.case_id, n.kind, n.facility_id FROM notifications n
        WHERE n.status = 'dead' AND n.case_id IS NOT NULL AND n.kind <> ALL(CAST(:quiet_kinds AS text[]))
    ),
    stalled AS MATERIALIZED (
        SELECT DISTINCT ON (r.case_id) r.case_id, r.id, r.status, r.requested_at FROM case_runs r
        WHERE r.status = 'failed'
           OR (r.status = 'pending' AND r.requested_at <= CAST(:now AS timestamptz) - make_interval(mins => :stalled_after))
        ORDER BY r.case_id, r.id
    ),
    resolved_delivery AS (
        UPDATE alerts a SET status = 'resolved', resolved_at = CAST(:now AS timestamptz)
        FROM notifications n
        WHERE a.kind = 'delivery_failed' AND a.status <> 'resolved' AND n.id = a.notification_id
          AND n.status = 'delivered'
        RETURNING a.id
    ),
    resolved_runs AS (
        UPDATE alerts a SET status = 'resolved', resolved_at = CAST(:now AS timestamptz)
        WHERE a.kind = 'run_stalled' AND a.status <> 'resolved'
          AND NOT EXISTS (SELECT 1 FROM stalled s WHERE s.case_id = a.case_id)
        RETURNING a.id
    ),
    raised_delivery AS (
        INSERT INTO alerts AS a (kind, notification_id, case_id, level, status, raised_at)
        SELECT 'delivery_failed', d.id, d.case_id, 1, 'open', CAST(:now AS timestamptz) FROM dead d
        WHERE NOT EXISTS (SELECT 1 FROM alerts x WHERE x.notification_id = d.id AND x.status <> 'resolved')
        ON CONFLICT (notification_id) WHERE status <> 'resolved' DO NOTHING
        RETURNING a.id, a.case_id, a.notification_id
    ),
    raised_runs AS (
        INSERT INTO alerts AS a (kind, case_run_id, case_id, level, status, raised_at)
        SELECT 'run_stalled', s.id, s.case_id, 1, 'open', CAST(:now AS timestamptz) FROM stalled s
        WHERE NOT EXISTS (
            SELECT 1 FROM alerts x WHERE x.case_id = s.case_id AND x.kind = 'run_stalled' AND x.status <> 'resolved'
        )
        ON CONFLICT (case_id) WHERE kind = 'run_stalled' AND status <> 'resolved' DO NOTHING
        RETURNING a.id, a.case_id, a.case_run_id
    ),
    messages AS (
        SELECT 'delivery_failed_alert' AS kind, p.channel, p.address, r.case_id, CAST(NULL AS int) AS step_id,
               r.id AS alert_id, d.facility_id,
               jsonb_build_object('undelivered', d.kind, 'facility', f.name) AS payload,
               'alert:' || r.id || '\\:raised' AS key
        FROM raised_delivery r JOIN dead d ON d.id = r.notification_id
        LEFT JOIN outside_facilities f ON f.id = d.facility_id
        CROSS JOIN people p
        UNION ALL
        SELECT 'run_stalled_alert', p.channel, p.address, r.case_id, NULL, r.id, NULL,
               jsonb_build_object('run_status', s.status, 'waiting_since', to_char(s.requested_at, 'YYYY-MM-DD HH24\\:MI')),
               'alert:' || r.id || '\\:raised'
        FROM raised_runs r JOIN stalled s ON s.id = r.case_run_id
        CROSS JOIN people p
    ),
    notified AS ({insert_from("messages")}
    )
    SELECT (SELECT count(*) FROM raised_delivery), (SELECT count(*) FROM raised_runs),
           (SELECT count(*) FROM resolved_delivery) + (SELECT count(*) FROM resolved_runs),
           (SELECT count(*) FROM notified)
    """
)


@dataclass
class StuckWorkReport:
    delivery_failed: int = 0
    runs_stalled: int = 0
    resolved: int = 0
    notifications: int = 0


def sweep_stuck_work(session: Session, now: datetime, *, settings: Settings | None = None) -> StuckWorkReport:
    """Raise and resolve delivery_failed and run_stalled alerts as of `now`, in the caller's transaction."""
    settings = settings or get_settings()
    params = {
        "now": now,
        "people": recipients.as_json(recipients.navigators(settings)),
        "quiet_kinds": list(STUCK_WORK_NOTICES),
        "stalled_after": settings.run_stalled_after_minutes,
    }
    return StuckWorkReport(*session.execute(STUCK, params).one())
