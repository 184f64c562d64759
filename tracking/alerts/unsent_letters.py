"""Letters produced but not sent: a `letter_unsent` alert on the case once a letter's deadline passes.

The deadline is the one rule in tracking/letters/unsent.py (a lay summary: its result-letter
step's due time; any other letter: WORKUP_LETTER_SEND_WITHIN_DAYS after it was produced). The
alert resolves when the letter is marked sent: at once by the marking (tracking/letters/marking.py),
and by this statement for any letter that is no longer waiting.

Set-based, one statement, run by the sweep in its transaction (tracking/alerts/sweep.py). One
unresolved alert per letter by the partial unique index `uq_alerts_one_unresolved_per_letter` (ON
CONFLICT DO NOTHING, so concurrent sweeps are safe); the same `now` twice changes nothing.
Navigators are told once per alert (ids, the letter's kind and production day: no patient data).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlmodel import Session

from tracking.letters.unsent import LETTER_STEP, SEND_BY
from tracking.notify import recipients
from tracking.notify.outbox import insert_from
from tracking.settings import Settings, get_settings

UNSENT_LATE = text(
    f"""
    WITH people AS (SELECT * FROM jsonb_to_recordset(CAST(:people AS jsonb)) AS p(channel text, address text)),
    late AS MATERIALIZED (
        SELECT l.id AS letter_id, l.case_id, l.kind, l.produced_at, {SEND_BY} AS send_by
        FROM letters l {LETTER_STEP}
        WHERE l.status = 'produced' AND {SEND_BY} < CAST(:now AS timestamptz)
    ),
    resolved AS (
        UPDATE alerts a SET status = 'resolved', resolved_at = CAST(:now AS timestamptz)
        WHERE a.kind = 'letter_unsent' AND a.status <> 'resolved'
          AND NOT EXISTS (SELECT 1 FROM late x WHERE x.letter_id = a.letter_id)
        RETURNING a.id
    ),
    raised AS (
        INSERT INTO alerts AS a (kind, letter_id, case_id, level, status, raised_at)
        SELECT 'letter_unsent', x.letter_id, x.case_id, 1, 'open', CAST(:now AS timestamptz) FROM late x
        WHERE NOT EXISTS (SELECT 1 FROM alerts y WHERE y.letter_id = x.letter_id AND y.status <> 'resolved')
        ON CONFLICT (letter_id) WHERE status <> 'resolved' DO NOTHING
        RETURNING a.id, a.case_id, a.letter_id, a.level
    ),
    messages AS (
        SELECT 'letter_unsent_alert' AS kind, p.channel, p.address, r.case_id, CAST(NULL AS int) AS step_id,
               r.id AS alert_id, CAST(NULL AS int) AS facility_id,
               jsonb_build_object('letter_id', x.letter_id, 'letter_kind', x.kind,
                                  'produced_at', x.produced_at, 'send_by', x.send_by) AS payload,
               'alert:' || r.id || ':level:' || r.level AS key
        FROM raised r JOIN late x ON x.letter_id = r.letter_id
        CROSS JOIN people p
    ),
    notified AS ({insert_from("messages")}
    )
    SELECT (SELECT count(*) FROM raised), (SELECT count(*) FROM resolved), (SELECT count(*) FROM notified)
    """
)

RESOLVE = text(
    "UPDATE alerts SET status = 'resolved', resolved_at = :now "
    "WHERE kind = 'letter_unsent' AND letter_id = :letter_id AND status <> 'resolved'"
)


@dataclass
class UnsentLettersReport:
    raised: int = 0
    resolved: int = 0
    notifications: int = 0


def sweep_unsent_letters(session: Session, now: datetime, *, settings: Settings | None = None) -> UnsentLettersReport:
    """Raise and resolve letter_unsent alerts as of `now`, in the caller's transaction."""
    settings = settings or get_settings()
    params = {
        "now": now,
        "send_within_days": settings.letter_send_within_days,
        "people": recipients.as_json(recipients.navigators(settings)),
    }
    return UnsentLettersReport(*session.execute(UNSENT_LATE, params).one())


def resolve_letter_alert(session: Session, letter_id: int, now: datetime) -> None:
    """The letter was marked sent: its alert (if any) is resolved in the same transaction."""
    session.execute(RESOLVE, {"now": now, "letter_id": letter_id})
