"""The one writer of the notifications outbox. Every notification, from Python or from a set-based
SQL statement, is inserted by the statement built here, so the dedupe-key format and the row's
starting values live in one place.

A source of messages is any SQL relation with the columns
    kind, channel, address, case_id, step_id, alert_id, facility_id, payload (jsonb), key
where `key` names the occasion (e.g. `alert:12:level:2`); the dedupe key adds the recipient, so
one occasion reaches each recipient once. A key already queued is skipped (ON CONFLICT DO NOTHING).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlmodel import Session

from tracking.notify.recipients import Recipient

COLUMNS = "kind, channel, address, case_id, step_id, alert_id, facility_id, payload, key"


def insert_from(source: str) -> str:
    """SQL that queues one notification per row of `source` (a CTE name or a parenthesised query).

    The statement uses the bind parameter `:now`; it returns the new rows' ids and case ids.
    """
    return f"""
    INSERT INTO notifications (kind, channel, recipient, case_id, step_id, alert_id, facility_id, payload,
                               dedupe_key, status, attempts, failures, next_attempt_at, created_at)
    SELECT m.kind, m.channel, m.address, m.case_id, m.step_id, m.alert_id, m.facility_id,
           coalesce(m.payload, '{{}}'::jsonb), m.key || '|' || m.channel || ':' || m.address,
           'pending', 0, 0, CAST(:now AS timestamptz), CAST(:now AS timestamptz)
    FROM {source} m
    ON CONFLICT (dedupe_key) DO NOTHING
    RETURNING id, case_id"""


MESSAGES_FROM_JSON = """(
    SELECT * FROM jsonb_to_recordset(CAST(:messages AS jsonb)) AS r(
        kind text, channel text, address text, case_id int, step_id int, alert_id int, facility_id int,
        payload jsonb, key text)
)"""

ENQUEUE = text(insert_from(MESSAGES_FROM_JSON))


def enqueue(
    session: Session,
    *,
    kind: str,
    recipients: list[Recipient],
    dedupe_key: str,
    now: datetime,
    case_id: int | None = None,
    step_id: int | None = None,
    alert_id: int | None = None,
    facility_id: int | None = None,
    payload: dict[str, Any] | None = None,
) -> int:
    """Queue one message per recipient, in the caller's transaction. Returns how many were new."""
    if not recipients:
        return 0
    messages = [
        {
            "kind": kind,
            "channel": recipient.channel,
            "address": recipient.address,
            "case_id": case_id,
            "step_id": step_id,
            "alert_id": alert_id,
            "facility_id": facility_id,
            "payload": payload or {},
            "key": dedupe_key,
        }
        for recipient in recipients
    ]
    return len(session.execute(ENQUEUE, {"now": now, "messages": json.dumps(messages, default=str)}).all())
