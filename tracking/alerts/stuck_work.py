"""Alerts for outside work that is stuck: a dead-lettered notification (its receiver never got it),
a message to a facility or the patient still unsent after WORKUP_DELIVERY_DELAYED_AFTER_MINUTES
(the mail server or webhook has been away that long: a film request that never left), and a case
whose run request has failed or waited longer than WORKUP_RUN_STALLED_AFTER_MINUTES.
Also what every alert about a case rather than a step says (`headline`), these two,
`case_stalled` (tracking/alerts/stalled_cases.py) and `letter_unsent`
(tracking/alerts/unsent_letters.py), and where they are read from.

Set-based, one statement, run by the sweep in its transaction. Each alert resolves by itself when
its cause is gone (the notification is retried and delivered, not merely queued again; the case's
runs complete). Navigators
are told once per alert. A notification about one of these alerts never raises another alert, so a
dead navigator mailbox cannot start a chain.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlmodel import Session, col, select

from tracking.centre_time import shown_date
from tracking.letters.kinds import kind_words
from tracking.notify import recipients
from tracking.notify.outbox import insert_from
from tracking.settings import Settings, get_settings

OUTSIDE_WORK_ALERTS = ("delivery_failed", "run_stalled")  # the "outside work that never happened" panel
# Alerts about a case, not a step: their headline is here.
CASE_ALERTS = (*OUTSIDE_WORK_ALERTS, "case_stalled", "corrected_result", "letter_unsent")

# The notice sent when each of these alerts is raised: "<alert kind>_alert". A notice about one of
# them that is dead-lettered, or still waiting to be sent, never raises another alert (:quiet_kinds below).
CASE_ALERT_NOTICES = tuple(f"{kind}_alert" for kind in CASE_ALERTS)
# Messages to the patient (facility-bound ones are found by their facility): still unsent after the
# delay, each raises a delivery alert on its case. Notices to navigators wait without one.
PATIENT_MESSAGES = ("contact_letter", "followup_reminder")
# Letters going out by email or fax (tracking/letters/sending.py), to a facility or a provider: alike.
LETTERS = ("letter",)

STUCK = text(
    f"""
    WITH people AS (SELECT * FROM jsonb_to_recordset(CAST(:people AS jsonb)) AS p(channel text, address text)),
    dead AS MATERIALIZED (
        SELECT n.id, n.case_id, n.kind, n.facility_id, n.status FROM notifications n
        WHERE n.status = 'dead' AND n.case_id IS NOT NULL AND n.kind <> ALL(CAST(:quiet_kinds AS text[]))
        UNION ALL
        SELECT n.id, n.case_id, n.kind, n.facility_id, n.status FROM notifications n
        WHERE n.status = 'pending' AND n.case_id IS NOT NULL AND n.kind <> ALL(CAST(:quiet_kinds AS text[]))
          AND n.created_at <= CAST(:now AS timestamptz) - make_interval(mins => :delayed_after)
          AND (n.facility_id IS NOT NULL OR n.kind = ANY(CAST(:patient_kinds AS text[])))
    ),
    stalled AS MATERIALIZED (
        SELECT DISTINCT ON (r.case_id) r.case_id, r.id, r.status, r.requested_at FROM case_runs r
        WHERE r.status = 'failed'
           OR (r.status = 'pending'
               AND r.requested_at <= CAST(:now AS timestamptz) - make_interval(mins => :stalled_after))
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
               jsonb_build_object('undelivered', d.kind, 'facility', f.name, 'delivery_status', d.status) AS payload,
               'alert:' || r.id || '\\:raised' AS key
        FROM raised_delivery r JOIN dead d ON d.id = r.notification_id
        LEFT JOIN outside_facilities f ON f.id = d.facility_id
        CROSS JOIN people p
        UNION ALL
        SELECT 'run_stalled_alert', p.channel, p.address, r.case_id, NULL, r.id, NULL,
               jsonb_build_object('run_status', s.status,
                                  'waiting_since', to_char(s.requested_at, 'YYYY-MM-DD HH24\\:MI') || ' UTC'),
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
        "quiet_kinds": list(CASE_ALERT_NOTICES),
        "stalled_after": settings.run_stalled_after_minutes,
        "delayed_after": settings.delivery_delayed_after_minutes,
        "patient_kinds": list(PATIENT_MESSAGES + LETTERS),
    }
    return StuckWorkReport(*session.execute(STUCK, params).one())


CASE_STANDING = {"open": "is open", "lost_to_follow_up": "is lost to follow-up"}


def headline(alert_kind: str, *, undelivered: str | None = None, facility: str | None = None,
             run_status: str | None = None, waiting_since: str | None = None, case_id: int | None = None,
             case_status: str | None = None, delivery_status: str | None = None, letter_id: int | None = None,
             letter_kind: str | None = None, produced_on: str | None = None) -> str:  # fmt: skip
    """What an alert about a case says, in words: the same sentence on pages, in the CLI and in emails."""
    if alert_kind == "letter_unsent":
        made = f", produced {produced_on}" if produced_on else ""
        return (f"Letter {letter_id} ({kind_words(letter_kind or 'letter')}{made}) is past its deadline and not "
                "marked sent: send it, then mark it sent on the letters page")  # fmt: skip
    if alert_kind == "delivery_failed":
        what = (undelivered or "message").replace("_", " ")
        if delivery_status == "pending":  # still waiting for its receiver: not given up on
            return f"{facility or 'The receiver'} has not received the {what} yet: it is still waiting to be sent"
        return f"{facility or 'The receiver'} never received the {what}"
    if alert_kind == "corrected_result":
        return (
            "The RIS sent a corrected result after the final one was recorded: compare them in the HL7 inbox "
            "and record what changed"
        )
    if alert_kind == "case_stalled":
        standing = CASE_STANDING.get(case_status or "")
        if standing is None:  # closed since: the alert has resolved
            return f"Case {case_id} had no next step dated and nothing alerting"
        return f"Case {case_id} {standing} with no next step dated and nothing alerting: decide what happens next"
    if run_status == "failed":
        return "Outside work for this case failed to run (see `workup runs --failed`)"
    return f"Outside work for this case has waited to run since {waiting_since or 'a while'}"


def notice_headline(kind: str, payload: dict[str, Any], case_id: int | None = None) -> str:
    """The headline of a notice about a case alert (one of CASE_ALERT_NOTICES), from its payload."""
    return headline(
        kind.removesuffix("_alert"),
        undelivered=payload.get("undelivered"), facility=payload.get("facility"),
        run_status=payload.get("run_status"), waiting_since=payload.get("waiting_since"),
        case_id=case_id, case_status=payload.get("case_status"), delivery_status=payload.get("delivery_status"),
        letter_id=payload.get("letter_id"), letter_kind=payload.get("letter_kind"),
        produced_on=_day(payload.get("produced_at")),
    )  # fmt: skip


def _day(moment: object) -> str | None:
    """An ISO moment from a notice's payload as the day people read ("3 Mar 2026")."""
    try:
        return shown_date(datetime.fromisoformat(str(moment))) if moment else None
    except ValueError:
        return None


@dataclass(frozen=True)
class StuckAlert:
    alert_id: int
    case_id: int
    kind: str
    status: str
    raised_at: datetime
    headline: str
    notification_id: int | None
    case_run_id: int | None


def unresolved_stuck_work(
    session: Session,
    *,
    kinds: tuple[str, ...] = OUTSIDE_WORK_ALERTS,
    case_ids: list[int] | None = None,
    alert_ids: list[int] | None = None,
    limit: int = 100,
) -> list[StuckAlert]:
    """Unresolved alerts about a case (`kinds`, of CASE_ALERTS; any status when `alert_ids` names
    them), oldest first, with their headlines."""
    from tracking.alerts.models import Alert
    from tracking.cases.models import Case, OutsideFacility
    from tracking.letters.models import Letter
    from tracking.notify.models import Notification
    from tracking.runs.models import CaseRun

    query = (
        select(
            Alert,
            Case.status,
            Notification.kind,
            Notification.status,
            OutsideFacility.name,
            CaseRun.status,
            CaseRun.requested_at,
            Letter.kind,
            Letter.produced_at,
        )  # fmt: skip
        .join(Case, Case.id == Alert.case_id)
        .join(Notification, Notification.id == Alert.notification_id, isouter=True)
        .join(OutsideFacility, OutsideFacility.id == Notification.facility_id, isouter=True)
        .join(CaseRun, CaseRun.id == Alert.case_run_id, isouter=True)
        .join(Letter, Letter.id == Alert.letter_id, isouter=True)
        .where(col(Alert.kind).in_(kinds))
        .order_by(Alert.raised_at, Alert.id)
        .limit(limit)
    )
    if alert_ids is not None:
        query = query.where(col(Alert.id).in_(alert_ids))
    else:
        query = query.where(Alert.status != "resolved")
    if case_ids is not None:
        query = query.where(col(Alert.case_id).in_(case_ids))
    return [
        StuckAlert(
            alert.id,
            alert.case_id,
            alert.kind,
            alert.status,
            alert.raised_at,
            headline(
                alert.kind,
                undelivered=undelivered,
                facility=facility,
                run_status=run_status,
                waiting_since=f"{requested_at:%Y-%m-%d %H:%M} UTC" if requested_at else None,
                case_id=alert.case_id,
                case_status=case_status,
                delivery_status=delivery_status,
                letter_id=alert.letter_id,
                letter_kind=letter_kind,
                produced_on=shown_date(produced_at) if produced_at else None,
            ),
            alert.notification_id,
            alert.case_run_id,
        )  # fmt: skip
        for (
            alert,
            case_status,
            undelivered,
            delivery_status,
            facility,
            run_status,
            requested_at,
            letter_kind,
            produced_at,
        ) in session.exec(query)
    ]
